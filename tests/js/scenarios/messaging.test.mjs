// Two people chatting through Element-style clients: a room is created, a friend is
// invited and joins, messages flow both ways through /sync, and the things a chat UI
// shows work — edits, reactions, redactions, typing, read receipts, scrollback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { sdk, registerUser, clientFor, startSyncing, waitForEvent, waitForRoom, withDeadline } from "../lib/clients.mjs";

let srv, alice, bob, roomId;

before(async () => {
    srv = await startServer();
    const a = await registerUser(srv.baseUrl, "alice");
    const b = await registerUser(srv.baseUrl, "bob");
    alice = clientFor(srv.baseUrl, a);
    bob = clientFor(srv.baseUrl, b);
    await startSyncing(alice);
    await startSyncing(bob);
});

after(async () => {
    alice?.stopClient();
    bob?.stopClient();
    if (srv) await srv.stop();
});

const isText = (body) => (ev) => ev.getType() === "m.room.message" && ev.getContent().body === body;

test("invite, join and a conversation both ways", async () => {
    ({ room_id: roomId } = await alice.createRoom({ name: "Pinegate chat", topic: "testing", preset: "private_chat" }));
    await alice.invite(roomId, bob.getUserId());
    await waitForRoom(bob, roomId, (r) => r.getMyMembership() === "invite", "bob to see the invite");
    await bob.joinRoom(roomId);
    const room = await waitForRoom(bob, roomId, (r) => r.getMyMembership() === "join", "bob's join");
    assert.equal(room.name, "Pinegate chat");
    await waitForRoom(alice, roomId, (r) => r.getMember(bob.getUserId())?.membership === "join", "alice to see bob join");

    const sent = await alice.sendTextMessage(roomId, "hello bob");
    const got = await waitForEvent(bob, roomId, isText("hello bob"), "alice's message at bob");
    assert.equal(got.getId(), sent.event_id);
    assert.equal(got.getSender(), alice.getUserId());
    await bob.sendTextMessage(roomId, "hi alice");
    await waitForEvent(alice, roomId, isText("hi alice"), "bob's reply at alice");
});

test("an edit and a reaction reach the other side as relations", async () => {
    const { event_id: orig } = await alice.sendTextMessage(roomId, "teh typo");
    await waitForEvent(bob, roomId, isText("teh typo"), "the original");
    await alice.sendMessage(roomId, {
        msgtype: "m.text",
        body: "* the typo",
        "m.new_content": { msgtype: "m.text", body: "the typo" },
        "m.relates_to": { rel_type: "m.replace", event_id: orig },
    });
    await bob.sendEvent(roomId, "m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: orig, key: "👍" } });
    const edit = await waitForEvent(bob, roomId, (ev) => ev.getContent()["m.relates_to"]?.rel_type === "m.replace", "the edit");
    assert.equal(edit.getContent()["m.new_content"].body, "the typo");
    await waitForEvent(alice, roomId, (ev) => ev.getType() === "m.reaction", "the reaction at alice");
    const rel = await alice.relations(roomId, orig, "m.annotation", "m.reaction");
    assert.equal(rel.events.length, 1);
    assert.equal(rel.events[0].getContent()["m.relates_to"].key, "👍");
});

test("a redacted message loses its content for everyone", async () => {
    const { event_id } = await alice.sendTextMessage(roomId, "oops, a secret");
    await waitForEvent(bob, roomId, isText("oops, a secret"), "the secret");
    await alice.redactEvent(roomId, event_id, undefined, { reason: "sent by mistake" });
    await withDeadline(
        new Promise((resolve) => {
            const check = () => {
                const ev = bob.getRoom(roomId).findEventById(event_id);
                if (ev?.isRedacted()) resolve();
                else setTimeout(check, 50);
            };
            check();
        }),
        10000,
        "the redaction at bob",
    );
    const fetched = await bob.fetchRoomEvent(roomId, event_id);
    assert.deepEqual(fetched.content, {}, "the server serves the redacted form");
    assert.equal(fetched.unsigned?.redacted_because?.content?.reason, "sent by mistake");
});

test("typing notifications and read receipts", async () => {
    const typing = withDeadline(
        new Promise((resolve) => {
            const on = (_ev, member) => {
                if (member.roomId === roomId && member.userId === alice.getUserId() && member.typing) {
                    bob.off(sdk.RoomMemberEvent.Typing, on);
                    resolve();
                }
            };
            bob.on(sdk.RoomMemberEvent.Typing, on);
        }),
        10000,
        "alice typing at bob",
    );
    await alice.sendTyping(roomId, true, 20000);
    await typing;

    const { event_id } = await alice.sendTextMessage(roomId, "please read this");
    const ev = await waitForEvent(bob, roomId, isText("please read this"), "the message to read");
    await bob.sendReadReceipt(ev);
    await withDeadline(
        new Promise((resolve) => {
            const check = () => {
                const room = alice.getRoom(roomId);
                if (room.getUsersReadUpTo(room.findEventById(event_id)).includes(bob.getUserId())) resolve();
                else setTimeout(check, 50);
            };
            check();
        }),
        10000,
        "bob's read receipt at alice",
    );
});

test("scrollback pages through history older than the initial sync", async () => {
    const { room_id } = await alice.createRoom({ preset: "public_chat", name: "history" });
    for (let i = 0; i < 45; i++) await alice.sendTextMessage(room_id, `old message ${i}`);
    const late = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "latecomer"));
    await late.joinRoom(room_id);
    await startSyncing(late, { initialSyncLimit: 10 });
    const room = await waitForRoom(late, room_id, (r) => r.getMyMembership() === "join", "the latecomer's room");
    const seen = () => room.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message").length;
    assert.ok(seen() < 45, "the initial sync is limited");
    for (let i = 0; i < 10 && seen() < 45; i++) await late.scrollback(room, 20);
    const bodies = room.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message").map((e) => e.getContent().body);
    assert.deepEqual(bodies, Array.from({ length: 45 }, (_, i) => `old message ${i}`), "every message once, in order");
    late.stopClient();
});
