// End-to-end encryption with the SDK's real Rust crypto: two devices upload their keys,
// alice's client claims bob's one-time key, shares the megolm session by to-device
// message, and bob's client decrypts — the server only ever carries ciphertext.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { sdk, registerUser, clientFor, startSyncing, waitForEvent, waitForRoom, withDeadline } from "../lib/clients.mjs";

let srv, alice, bob;

before(async () => {
    srv = await startServer();
    alice = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "alice"));
    bob = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "bob"));
    await alice.initRustCrypto({ useIndexedDB: false });
    await bob.initRustCrypto({ useIndexedDB: false });
    await startSyncing(alice);
    await startSyncing(bob);
});

after(async () => {
    alice?.stopClient();
    bob?.stopClient();
    if (srv) await srv.stop();
});

test("device keys are published and visible to the other user", async () => {
    await withDeadline(
        (async () => {
            for (;;) {
                const r = await bob.downloadKeysForUsers([alice.getUserId()]);
                if (r.device_keys?.[alice.getUserId()]?.[alice.getDeviceId()]) return;
                await new Promise((res) => setTimeout(res, 100));
            }
        })(),
        10000,
        "alice's device keys",
    );
});

test("an encrypted message is decrypted by the recipient and opaque to the server", async () => {
    const { room_id } = await alice.createRoom({
        preset: "private_chat",
        invite: [bob.getUserId()],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await waitForRoom(bob, room_id, (r) => r.getMyMembership() === "invite", "bob's invite");
    await bob.joinRoom(room_id);
    await waitForRoom(alice, room_id, (r) => r.getMember(bob.getUserId())?.membership === "join", "bob's join at alice");
    await waitForRoom(alice, room_id, (r) => r.hasEncryptionStateEvent(), "the encryption state at alice");

    const { event_id } = await alice.sendTextMessage(room_id, "the eagle lands at dawn");
    const ev = await waitForEvent(bob, room_id, (e) => e.getId() === event_id, "the encrypted event at bob");
    assert.equal(ev.getWireType(), "m.room.encrypted");
    await withDeadline(
        new Promise((resolve) => {
            const check = () => (ev.isBeingDecrypted() || ev.getType() !== "m.room.message" ? setTimeout(check, 50) : resolve());
            check();
        }),
        15000,
        "bob's client to decrypt",
    );
    assert.equal(ev.isDecryptionFailure(), false);
    assert.equal(ev.getContent().body, "the eagle lands at dawn");

    const raw = await (
        await fetch(`${srv.baseUrl}/_matrix/client/v3/rooms/${encodeURIComponent(room_id)}/event/${encodeURIComponent(event_id)}`, {
            headers: { authorization: `Bearer ${bob.getAccessToken()}` },
        })
    ).json();
    assert.equal(raw.type, "m.room.encrypted");
    assert.ok(!JSON.stringify(raw).includes("eagle"), "the server never saw the plaintext");
});
