// The client extras as matrix-js-sdk drives them: a room tag set and removed shows up in
// the SDK's room through /sync, server-side search finds messages and pages back, a room
// upgrade leaves a tombstone the SDK sees and a replacement the other member joins, a
// knock on a knock room, the space hierarchy, timestamp_to_event, an OpenID token and
// the TURN server answer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { sdk, registerUser, clientFor, startSyncing, waitForRoom } from "../lib/clients.mjs";

let srv, alice, bob;

before(async () => {
    srv = await startServer();
    alice = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "alice"));
    bob = clientFor(srv.baseUrl, await registerUser(srv.baseUrl, "bob"));
    await startSyncing(alice);
});

after(async () => {
    alice?.stopClient();
    bob?.stopClient();
    if (srv) await srv.stop();
});

test("a room tag reaches the SDK's room through sync, and goes again", async () => {
    const { room_id } = await alice.createRoom({ name: "tagged" });
    await alice.setRoomTag(room_id, "m.favourite", { order: 0.5 });
    const room = await waitForRoom(alice, room_id, (r) => r.tags["m.favourite"] !== undefined, "the tag");
    assert.equal(room.tags["m.favourite"].order, 0.5);
    await alice.deleteRoomTag(room_id, "m.favourite");
    await waitForRoom(alice, room_id, (r) => r.tags["m.favourite"] === undefined, "the tag removed");
});

test("server-side search finds messages and pages back", async () => {
    const { room_id } = await alice.createRoom({ name: "search room" });
    for (let i = 0; i < 12; i++) await alice.sendTextMessage(room_id, `walrus sighting number ${i}`);
    await alice.sendTextMessage(room_id, "nothing here");
    const first = await alice.searchRoomEvents({ term: "walrus" });
    assert.equal(first.count, 12);
    assert.equal(first.results.length, 10);
    assert.ok(first.highlights.includes("walrus"));
    const all = await alice.backPaginateRoomEventsSearch(first);
    assert.equal(all.results.length, 12);
    const bodies = new Set(all.results.map((r) => r.context.getEvent().getContent().body));
    assert.equal(bodies.size, 12, "no result twice");
});

test("an upgrade leaves a tombstone and a replacement room others can join", async () => {
    const { room_id } = await alice.createRoom({ preset: "public_chat", name: "old room", topic: "kept" });
    await bob.joinRoom(room_id);
    const { replacement_room } = await alice.upgradeRoom(room_id, "11");
    await waitForRoom(alice, room_id,
        (r) => r.currentState.getStateEvents("m.room.tombstone", "")?.getContent().replacement_room === replacement_room,
        "the tombstone");
    await bob.joinRoom(replacement_room);
    const state = await bob.roomState(replacement_room);
    const content = (type) => state.find((e) => e.type === type && e.state_key === "")?.content;
    assert.equal(content("m.room.topic").topic, "kept");
    assert.equal(content("m.room.name").name, "old room");
    assert.equal(content("m.room.create").predecessor.room_id, room_id);
});

test("knock, hierarchy, timestamp_to_event, OpenID and TURN", async () => {
    const { room_id: knockRoom } = await alice.createRoom({
        room_version: "10",
        initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }],
    });
    await bob.knockRoom(knockRoom, { reason: "let me in" });
    const member = await alice.getStateEvent(knockRoom, "m.room.member", bob.getUserId());
    assert.equal(member.membership, "knock");

    const { room_id: space } = await alice.createRoom({ preset: "public_chat", name: "space",
        creation_content: { type: "m.space" } });
    const { room_id: child } = await alice.createRoom({ preset: "public_chat", name: "child" });
    await alice.sendStateEvent(space, "m.space.child", { via: [alice.getDomain()] }, child);
    const h = await bob.getRoomHierarchy(space);
    assert.deepEqual(h.rooms.map((r) => r.room_id), [space, child]);
    assert.equal(h.rooms[0].room_type, "m.space");

    const { event_id } = await alice.sendTextMessage(child, "timestamped");
    const found = await alice.timestampToEvent(child, Date.now() + 60000, sdk.Direction.Backward);
    assert.equal(found.event_id, event_id);

    const openid = await bob.getOpenIdToken();
    assert.equal(openid.token_type, "Bearer");
    assert.ok(openid.access_token.length >= 32);

    assert.deepEqual(await bob.turnServer(), {});
});
