// Accounts as a client application uses them: register (UIA with m.login.dummy), log in
// with a password, whoami, log out, wrong passwords, and Synapse's shared-secret admin
// registration (the HMAC the synapse tooling computes, done here with node:crypto).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startServer } from "../lib/server.mjs";
import { sdk, registerUser, clientFor } from "../lib/clients.mjs";

let srv;
before(async () => {
    srv = await startServer({
        editConfig: (y) => y.replace('registration_shared_secret: ""', 'registration_shared_secret: "s3cret-for-tests"'),
    });
});
after(async () => srv && (await srv.stop()));

test("register, whoami, password login on a second device, logout", async () => {
    const alice = await registerUser(srv.baseUrl, "alice");
    assert.match(alice.userId, /^@alice:localhost:\d+$/);
    const c = clientFor(srv.baseUrl, alice);
    const who = await c.whoami();
    assert.equal(who.user_id, alice.userId);
    assert.equal(who.device_id, alice.deviceId);

    const anon = sdk.createClient({ baseUrl: srv.baseUrl });
    const flows = await anon.loginFlows();
    assert.ok(flows.flows.some((f) => f.type === "m.login.password"));
    const login = await anon.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "alice" },
        password: alice.password,
        initial_device_display_name: "second laptop",
    });
    assert.equal(login.user_id, alice.userId);
    assert.notEqual(login.device_id, alice.deviceId);

    const second = clientFor(srv.baseUrl, { userId: login.user_id, accessToken: login.access_token, deviceId: login.device_id });
    const devices = await second.getDevices();
    assert.deepEqual(devices.devices.map((d) => d.device_id).sort(), [alice.deviceId, login.device_id].sort());
    assert.ok(devices.devices.some((d) => d.display_name === "second laptop"));

    await second.logout(true);
    await assert.rejects(second.whoami(), (e) => e.httpStatus === 401 && e.errcode === "M_UNKNOWN_TOKEN");
    assert.equal((await c.whoami()).user_id, alice.userId, "the first device stays logged in");
});

test("a wrong password and a taken name are refused with the spec's codes", async () => {
    await registerUser(srv.baseUrl, "bob");
    const anon = sdk.createClient({ baseUrl: srv.baseUrl });
    await assert.rejects(
        anon.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: "bob" }, password: "nope" }),
        (e) => e.httpStatus === 403 && e.errcode === "M_FORBIDDEN",
    );
    await assert.rejects(registerUser(srv.baseUrl, "bob"), (e) => e.errcode === "M_USER_IN_USE");
    assert.equal(await anon.isUsernameAvailable("carol"), true);
});

test("shared-secret admin registration (Synapse's nonce + HMAC-SHA1)", async () => {
    const url = `${srv.baseUrl}/_synapse/admin/v1/register`;
    const { nonce } = await (await fetch(url)).json();
    const mac = createHmac("sha1", "s3cret-for-tests")
        .update(`${nonce}\0root\0admin password\0admin`)
        .digest("hex");
    const r = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ nonce, username: "root", password: "admin password", admin: true, mac }),
    });
    assert.equal(r.status, 200, await r.clone().text());
    const body = await r.json();
    const c = clientFor(srv.baseUrl, { userId: body.user_id, accessToken: body.access_token, deviceId: body.device_id });
    assert.equal((await c.whoami()).user_id, body.user_id);
    const replay = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ nonce, username: "root2", password: "x", admin: false, mac }),
    });
    assert.equal(replay.status, 400, "a nonce is single-use and the MAC covers the username");
});
