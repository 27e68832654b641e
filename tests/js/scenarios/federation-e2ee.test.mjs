// End-to-end encryption across two federating pinegate servers, with the SDK's real Rust
// crypto: alice on server A invites bob of server B into an encrypted room; bob's client
// finds alice's device keys through B (user/keys/query to A), alice's client claims
// bob's one-time key through A (user/keys/claim to B) and sends the megolm session to
// bob's device as an m.direct_to_device EDU; bob's client decrypts on B. Neither server
// ever holds the plaintext.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { registerUser, clientFor, startSyncing, waitForEvent, waitForRoom, poll, waitForDecryption, rawEvent } from "../lib/clients.mjs";

let srvA, srvB, alice, bob;

before(async () => {
    srvA = await startServer();
    srvB = await startServer();
    alice = clientFor(srvA.baseUrl, await registerUser(srvA.baseUrl, "alice"));
    bob = clientFor(srvB.baseUrl, await registerUser(srvB.baseUrl, "bob"));
    await alice.initRustCrypto({ useIndexedDB: false });
    await bob.initRustCrypto({ useIndexedDB: false });
    await startSyncing(alice);
    await startSyncing(bob);
});

after(async () => {
    alice?.stopClient();
    bob?.stopClient();
    // both are stopped even when one exits badly, then the first failure is reported
    const stops = await Promise.allSettled([srvA?.stop(), srvB?.stop()]);
    const failed = stops.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
});

test("each sees the other's device keys across servers", async () => {
    for (const [viewer, owner] of [[alice, bob], [bob, alice]]) {
        await poll(`${owner.getUserId()}'s device keys at ${viewer.getUserId()}`, 20000, async () => {
            const r = await viewer.downloadKeysForUsers([owner.getUserId()]);
            return r.device_keys?.[owner.getUserId()]?.[owner.getDeviceId()];
        });
    }
});

test("an encrypted message from A is decrypted on B", async () => {
    // createRoom's `invite` takes local users only; /invite reaches other servers.
    const { room_id } = await alice.createRoom({
        preset: "private_chat",
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await alice.invite(room_id, bob.getUserId());
    await waitForRoom(bob, room_id, (r) => r.getMyMembership() === "invite", "bob's invite on B", 20000);
    await bob.joinRoom(room_id);
    await waitForRoom(alice, room_id, (r) => r.getMember(bob.getUserId())?.membership === "join", "bob's join at alice",
        20000);
    await waitForRoom(bob, room_id, (r) => r.hasEncryptionStateEvent(), "the encryption state at bob", 20000);

    const { event_id } = await alice.sendTextMessage(room_id, "the heron flies at noon");
    const ev = await waitForEvent(bob, room_id, (e) => e.getId() === event_id, "the encrypted event on B", 20000);
    assert.equal(ev.getWireType(), "m.room.encrypted");
    await waitForDecryption(ev, 30000, "bob's client to decrypt");
    assert.equal(ev.isDecryptionFailure(), false);
    assert.equal(ev.getContent().body, "the heron flies at noon");

    const raw = await rawEvent(srvB.baseUrl, bob, room_id, event_id);
    assert.equal(raw.type, "m.room.encrypted");
    assert.ok(!JSON.stringify(raw).includes("heron"), "B never saw the plaintext");
});
