// End-to-end encryption with the SDK's real Rust crypto: two devices upload their keys,
// alice's client claims bob's one-time key, shares the megolm session by to-device
// message, and bob's client decrypts — the server only ever carries ciphertext.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { registerUser, clientFor, startSyncing, waitForEvent, waitForRoom, poll, waitForDecryption, rawEvent } from "../lib/clients.mjs";

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
    await poll("alice's device keys", 10000, async () => {
        const r = await bob.downloadKeysForUsers([alice.getUserId()]);
        return r.device_keys?.[alice.getUserId()]?.[alice.getDeviceId()];
    });
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
    await waitForDecryption(ev, 15000, "bob's client to decrypt");
    assert.equal(ev.isDecryptionFailure(), false);
    assert.equal(ev.getContent().body, "the eagle lands at dawn");

    const raw = await rawEvent(srv.baseUrl, bob, room_id, event_id);
    assert.equal(raw.type, "m.room.encrypted");
    assert.ok(!JSON.stringify(raw).includes("eagle"), "the server never saw the plaintext");
});
