// Notification settings as a client manages them: the server's default push rules reach
// matrix-js-sdk, a keyword rule the user adds makes a message highlight in the SDK's own
// push processor, disabling and deleting it takes that back, changing a default rule's
// actions sticks, and a pusher registered by a phone is listed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { sdk, registerUser, clientFor, startSyncing, waitForEvent } from "../lib/clients.mjs";

let srv, alice, bob;

before(async () => {
    srv = await startServer();
    alice = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "alice"));
    bob = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "bob"));
});

after(async () => {
    alice?.stopClient();
    bob?.stopClient();
    if (srv) await srv.stop();
});

const ids = (rules) => rules.map((r) => r.rule_id);

test("default rules are served, and a keyword rule highlights a message", async () => {
    const rules = await alice.getPushRules();
    assert.equal(rules.global.override[0].rule_id, ".m.rule.master");
    assert.equal(rules.global.override[0].enabled, false);
    assert.ok(ids(rules.global.underride).includes(".m.rule.message"));
    assert.deepEqual(ids(rules.global.content), [".m.rule.contains_user_name"]);

    const { room_id } = await alice.createRoom({ preset: "public_chat" });
    await bob.joinRoom(room_id);
    await alice.addPushRule("global", sdk.PushRuleKind.ContentSpecific, "cake", {
        pattern: "cake",
        actions: ["notify", { set_tweak: "highlight" }],
    });
    alice.pushRules = await alice.getPushRules();
    assert.equal(alice.pushRules.global.content[0].rule_id, "cake", "user rules come before the defaults");

    await startSyncing(alice);
    await bob.sendTextMessage(room_id, "who wants cake?");
    const ev = await waitForEvent(alice, room_id, (e) => e.getContent().body === "who wants cake?", "bob's message");
    assert.equal(alice.getPushActionsForEvent(ev, true).tweaks.highlight, true);

    await alice.setPushRuleEnabled("global", sdk.PushRuleKind.ContentSpecific, "cake", false);
    alice.pushRules = await alice.getPushRules();
    const plain = alice.getPushActionsForEvent(ev, true);
    assert.equal(plain.notify, true, "still a message in a room with two members");
    assert.notEqual(plain.tweaks.highlight, true);

    await alice.deletePushRule("global", sdk.PushRuleKind.ContentSpecific, "cake");
    alice.pushRules = await alice.getPushRules();
    assert.deepEqual(ids(alice.pushRules.global.content), [".m.rule.contains_user_name"]);
    await assert.rejects(alice.deletePushRule("global", sdk.PushRuleKind.Override, ".m.rule.master"),
        (e) => e.httpStatus === 400, "default rules cannot be deleted");
    alice.stopClient();
});

test("a default rule's actions can be changed, and pushers are listed", async () => {
    await alice.setPushRuleActions("global", sdk.PushRuleKind.Underride, ".m.rule.message", ["notify", { set_tweak: "sound", value: "bing" }]);
    const rules = await alice.getPushRules();
    const message = rules.global.underride.find((r) => r.rule_id === ".m.rule.message");
    assert.deepEqual(message.actions, ["notify", { set_tweak: "sound", value: "bing" }]);
    assert.equal(message.default, true);

    await alice.setPusher({
        pushkey: "phone-token",
        kind: "http",
        app_id: "org.example.chat",
        app_display_name: "Chat",
        device_display_name: "Alice's phone",
        lang: "en",
        data: { url: "https://push.example.org/_matrix/push/v1/notify" },
    });
    const { pushers } = await alice.getPushers();
    assert.deepEqual(pushers.map((p) => p.pushkey), ["phone-token"]);
    await alice.setPusher({ pushkey: "phone-token", app_id: "org.example.chat", kind: null });
    assert.deepEqual((await alice.getPushers()).pushers, []);
});
