// Two people chatting through Element-style clients: a room is created, a friend is
// invited and joins, messages flow both ways through /sync, and the things a chat UI
// shows work — edits, reactions, redactions, typing, read receipts, scrollback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { sdk, registerUser, clientFor, startSyncing, waitForEvent, waitForRoom, withDeadline, poll } from "../lib/clients.mjs";

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

test("a new name and topic show up at the other side", async () => {
    await alice.setRoomName(roomId, "Renamed chat");
    await alice.setRoomTopic(roomId, "now about pinecones");
    await waitForRoom(bob, roomId, (r) => r.name === "Renamed chat", "the new name at bob");
    await waitForRoom(
        bob,
        roomId,
        (r) => r.currentState.getStateEvents("m.room.topic", "")?.getContent().topic === "now about pinecones",
        "the new topic at bob",
    );
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
    await poll("the redaction at bob", 10000, () => bob.getRoom(roomId).findEventById(event_id)?.isRedacted());
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
    await poll("bob's read receipt at alice", 10000, () => {
        const room = alice.getRoom(roomId);
        return room.getUsersReadUpTo(room.findEventById(event_id)).includes(bob.getUserId());
    });
});

test("scrollback pages through 200 messages older than the initial sync", async () => {
    const { room_id } = await alice.createRoom({ preset: "public_chat", name: "history" });
    const N = 200;
    for (let i = 0; i < N; i++) await alice.sendTextMessage(room_id, `old message ${i}`);
    const late = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "latecomer"));
    await late.joinRoom(room_id);
    await startSyncing(late, { initialSyncLimit: 10 });
    const room = await waitForRoom(late, room_id, (r) => r.getMyMembership() === "join", "the latecomer's room");
    const seen = () => room.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message").length;
    assert.ok(seen() < N, "the initial sync is limited");
    for (let i = 0; i < 30 && seen() < N; i++) await late.scrollback(room, 30);
    const bodies = room.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message").map((e) => e.getContent().body);
    assert.deepEqual(bodies, Array.from({ length: N }, (_, i) => `old message ${i}`), "every message once, in order");
    late.stopClient();
});

test("a client that restarts resumes from its sync token without loss or duplicates", async () => {
    const account = await registerUser(srv.baseUrl, "roamer");
    let c = clientFor(srv.baseUrl, account);
    await alice.invite(roomId, account.userId);
    await c.joinRoom(roomId);
    await startSyncing(c);
    await waitForRoom(c, roomId, (r) => r.getMyMembership() === "join", "the roamer's room");
    const token = c.store.getSyncToken();
    assert.ok(token, "the SDK holds a sync token");
    c.stopClient();
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push((await alice.sendTextMessage(roomId, `while away ${i}`)).event_id);

    c = clientFor(srv.baseUrl, account);
    const resumed = await c.http.authedRequest("GET", "/sync", { since: token, timeout: "0" });
    const timeline = resumed.rooms.join[roomId].timeline;
    const got = timeline.events.filter((e) => e.type === "m.room.message").map((e) => e.event_id);
    assert.deepEqual(got, sent, "exactly the missed messages, in order");
    assert.equal(timeline.limited, false);
    const after = await c.http.authedRequest("GET", "/sync", { since: resumed.next_batch, timeout: "0" });
    const again = after.rooms?.join?.[roomId]?.timeline?.events ?? [];
    assert.equal(again.filter((e) => sent.includes(e.event_id)).length, 0, "nothing delivered twice");
});

test("the spec's errors: bad token, banned user, oversized event, unknown room", async () => {
    const bad = clientFor(srv.baseUrl, { userId: alice.getUserId(), accessToken: "not-a-token", deviceId: "X" });
    await assert.rejects(bad.whoami(), (e) => e.httpStatus === 401 && e.errcode === "M_UNKNOWN_TOKEN");

    const mallory = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "mallory"));
    const { room_id } = await alice.createRoom({ preset: "public_chat" });
    await alice.ban(room_id, mallory.getUserId(), "spam");
    await assert.rejects(mallory.joinRoom(room_id), (e) => e.httpStatus === 403 && e.errcode === "M_FORBIDDEN");

    await assert.rejects(
        alice.sendMessage(room_id, { msgtype: "m.text", body: "x".repeat(70000) }),
        (e) => e.httpStatus === 413 && e.errcode === "M_TOO_LARGE",
    );
    await assert.rejects(
        alice.joinRoom(`!doesnotexist:${srv.serverName}`),
        (e) => e.httpStatus === 404 && e.errcode === "M_NOT_FOUND",
    );
});

test("leaving: the other side sees it and the room moves to the leaver's left rooms", async () => {
    await bob.leave(roomId);
    await waitForRoom(alice, roomId, (r) => r.getMember(bob.getUserId())?.membership === "leave", "bob's leave at alice");
    await waitForRoom(bob, roomId, (r) => r.getMyMembership() === "leave", "the leave at bob");
    await assert.rejects(bob.sendTextMessage(roomId, "still here?"), (e) => e.httpStatus === 403);
});
