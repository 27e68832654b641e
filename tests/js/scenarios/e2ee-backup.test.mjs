// "Set up secure backup" as Element does it, with the SDK's Rust crypto: cross-signing
// keys bootstrapped through password UIA, a server-side key backup created, room keys
// backed up as messages are sent, and a second device of the same user restoring the
// backup to read a message sent before it existed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { sdk, registerUser, clientFor, startSyncing, waitForEvent, waitForRoom, poll } from "../lib/clients.mjs";

let srv, account, first, second, bob;

before(async () => {
    srv = await startServer();
    account = await registerUser(srv.baseUrl, "alice");
    first = clientFor(srv.baseUrl, account);
    await first.initRustCrypto({ useIndexedDB: false });
    await startSyncing(first);
    bob = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "bob"));
});

after(async () => {
    first?.stopClient();
    second?.stopClient();
    bob?.stopClient();
    if (srv) await srv.stop();
});

test("cross-signing is bootstrapped through password UIA and visible to others", async () => {
    const crypto = first.getCrypto();
    await crypto.bootstrapCrossSigning({
        authUploadDeviceSigningKeys: async (makeRequest) => {
            await makeRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user: "alice" },
                password: account.password,
            });
        },
    });
    assert.equal(await crypto.isCrossSigningReady(), true);
    const keys = await bob.downloadKeysForUsers([first.getUserId()]);
    const master = keys.master_keys?.[first.getUserId()];
    assert.ok(master, "bob sees alice's master key");
    assert.deepEqual(master.usage, ["master"]);
    assert.ok(keys.self_signing_keys?.[first.getUserId()], "and her self-signing key");
    assert.equal(keys.user_signing_keys?.[first.getUserId()], undefined, "but not her user-signing key");
    const own = await first.downloadKeysForUsers([first.getUserId()]);
    const device = own.device_keys[first.getUserId()][first.getDeviceId()];
    const sigs = Object.keys(device.signatures[first.getUserId()]);
    assert.ok(sigs.length >= 2, `the device is signed by itself and the self-signing key (${sigs})`);
});

test("room keys are backed up and a new device restores them to read old messages", async () => {
    const crypto = first.getCrypto();
    await crypto.resetKeyBackup();
    const version = await poll("an active backup version", 10000, () => crypto.getActiveSessionBackupVersion());

    const { room_id } = await first.createRoom({
        preset: "private_chat",
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await waitForRoom(first, room_id, (r) => r.hasEncryptionStateEvent(), "the encryption state");
    const { event_id } = await first.sendTextMessage(room_id, "written before the second device existed");
    await poll("the room key in the backup", 30000, async () => {
        const r = await fetch(`${srv.baseUrl}/_matrix/client/v3/room_keys/version/${version}`, {
            headers: { authorization: `Bearer ${first.getAccessToken()}` },
        });
        return (await r.json()).count > 0;
    });

    const anon = sdk.createClient({ baseUrl: srv.baseUrl });
    const login = await anon.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "alice" },
        password: account.password,
    });
    second = clientFor(srv.baseUrl, { userId: login.user_id, accessToken: login.access_token, deviceId: login.device_id });
    await second.initRustCrypto({ useIndexedDB: false });
    await startSyncing(second);
    await second.getCrypto().storeSessionBackupPrivateKey(await crypto.getSessionBackupPrivateKey(), version);
    const restored = await second.getCrypto().restoreKeyBackup();
    assert.ok(restored.imported >= 1, `imported ${restored.imported} of ${restored.total}`);

    const ev = await waitForEvent(second, room_id, (e) => e.getId() === event_id, "the old event at the new device", 15000);
    await poll("decryption on the new device", 15000, async () => {
        if (ev.isDecryptionFailure()) await ev.attemptDecryption(second.getCrypto(), { isRetry: true });
        return !ev.isDecryptionFailure() && ev.getType() === "m.room.message";
    });
    assert.equal(ev.getContent().body, "written before the second device existed");
});
