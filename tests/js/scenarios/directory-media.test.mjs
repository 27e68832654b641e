// What users set up around rooms: display names seen by others, room aliases and the
// public room directory, search for people, and sharing a file (upload, then download
// the same bytes).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { registerUser, clientFor, startSyncing, waitForRoom } from "../lib/clients.mjs";

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

test("a display name is served and shows in room membership", async () => {
    await alice.setDisplayName("Alice Liddell");
    const p = await bob.getProfileInfo(alice.getUserId());
    assert.equal(p.displayname, "Alice Liddell");
    const { room_id } = await alice.createRoom({ preset: "public_chat" });
    await startSyncing(bob);
    await bob.joinRoom(room_id);
    const room = await waitForRoom(bob, room_id, (r) => r.getMember(alice.getUserId()), "alice as a member");
    assert.equal(room.getMember(alice.getUserId()).name, "Alice Liddell");
    bob.stopClient();
});

test("join by alias, and the public room directory lists and searches rooms", async () => {
    const alias = `#garden:${srv.serverName}`;
    const { room_id } = await alice.createRoom({ preset: "public_chat", visibility: "public", name: "The Garden", room_alias_name: "garden" });
    assert.equal((await bob.getRoomIdForAlias(alias)).room_id, room_id);
    const joined = await bob.joinRoom(alias);
    assert.equal(joined.roomId, room_id);
    await alice.createRoom({ preset: "public_chat", visibility: "public", name: "Kitchen" });
    await alice.createRoom({ preset: "private_chat", name: "Secret cellar" });
    const all = await bob.publicRooms({ limit: 10 });
    const names = all.chunk.map((r) => r.name).sort();
    assert.deepEqual(names, ["Kitchen", "The Garden"], "private rooms are not listed");
    const garden = all.chunk.find((r) => r.room_id === room_id);
    assert.equal(garden.canonical_alias ?? garden.aliases?.[0] ?? alias, alias);
    assert.equal(garden.num_joined_members, 2);
    const found = await bob.publicRooms({ filter: { generic_search_term: "kitch" } });
    assert.deepEqual(found.chunk.map((r) => r.name), ["Kitchen"]);
    await assert.rejects(alice.createAlias(alias, room_id), (e) => e.httpStatus === 409);
});

test("the user directory finds people by name", async () => {
    const r = await bob.searchUserDirectory({ term: "liddell" });
    assert.deepEqual(r.results.map((u) => u.user_id), [alice.getUserId()]);
});

test("a file uploads and downloads byte for byte", async () => {
    const bytes = Buffer.from(Array.from({ length: 200000 }, (_, i) => (i * 31) & 0xff));
    const { content_uri } = await alice.uploadContent(bytes, { name: "pattern.bin", type: "application/octet-stream" });
    assert.match(content_uri, /^mxc:\/\//);
    const url = bob.mxcUrlToHttp(content_uri, undefined, undefined, undefined, false, true, true);
    const r = await fetch(url, { headers: { authorization: `Bearer ${bob.getAccessToken()}` } });
    assert.equal(r.status, 200);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(bytes));
    const unauth = await fetch(url);
    assert.equal(unauth.status, 401, "the authenticated media path needs a token");
});
