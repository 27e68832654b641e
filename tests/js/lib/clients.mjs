// matrix-js-sdk clients as an application would make them: register through the SDK's
// user-interactive flow (m.login.dummy), then a logged-in MatrixClient. Helpers wait for
// what a user would see (an event in the timeline, a membership) with a deadline, so a
// missing feature fails the scenario instead of hanging it.
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("error");

export { sdk };

export async function registerUser(baseUrl, username, password = "correct horse battery") {
    const c = sdk.createClient({ baseUrl });
    let res;
    try {
        res = await c.registerRequest({ username, password });
    } catch (e) {
        const session = e.data?.session;
        if (e.httpStatus !== 401 || !session) throw e;
        res = await c.registerRequest({ username, password, auth: { type: "m.login.dummy", session } });
    }
    return { userId: res.user_id, accessToken: res.access_token, deviceId: res.device_id, password };
}

export function clientFor(baseUrl, account, opts = {}) {
    return sdk.createClient({
        baseUrl,
        userId: account.userId,
        accessToken: account.accessToken,
        deviceId: account.deviceId,
        ...opts,
    });
}

// Starts syncing and resolves once the first sync is done.
export async function startSyncing(client, opts = {}) {
    const ready = new Promise((resolve, reject) => {
        const onSync = (state, _prev, data) => {
            if (state === "PREPARED" || state === "SYNCING") {
                client.off(sdk.ClientEvent.Sync, onSync);
                resolve();
            } else if (state === "ERROR") {
                client.off(sdk.ClientEvent.Sync, onSync);
                reject(data?.error ?? new Error("sync failed"));
            }
        };
        client.on(sdk.ClientEvent.Sync, onSync);
    });
    await client.startClient({ initialSyncLimit: 20, ...opts });
    await withDeadline(ready, 15000, "first sync");
}

export function withDeadline(promise, ms, what) {
    let t;
    const timeout = new Promise((_, reject) => {
        t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

// Resolves with the first timeline event in `roomId` for which `pred(event)` is true,
// whether it is already there or arrives later.
export function waitForEvent(client, roomId, pred, what, ms = 10000) {
    const existing = client.getRoom(roomId)?.getLiveTimeline().getEvents().find(pred);
    if (existing) return Promise.resolve(existing);
    return withDeadline(
        new Promise((resolve) => {
            const on = (ev, room) => {
                if (room?.roomId === roomId && pred(ev)) {
                    client.off(sdk.RoomEvent.Timeline, on);
                    resolve(ev);
                }
            };
            client.on(sdk.RoomEvent.Timeline, on);
        }),
        ms,
        what,
    );
}

// Resolves once `client` has the room `roomId` with `pred(room)` true.
export function waitForRoom(client, roomId, pred, what, ms = 10000) {
    const check = () => {
        const r = client.getRoom(roomId);
        return r && pred(r) ? r : null;
    };
    const now = check();
    if (now) return Promise.resolve(now);
    return withDeadline(
        new Promise((resolve) => {
            const on = () => {
                const r = check();
                if (r) {
                    client.off(sdk.ClientEvent.Sync, on);
                    client.off(sdk.RoomEvent.Timeline, on);
                    client.off(sdk.ClientEvent.Room, on);
                    resolve(r);
                }
            };
            client.on(sdk.ClientEvent.Sync, on);
            client.on(sdk.RoomEvent.Timeline, on);
            client.on(sdk.ClientEvent.Room, on);
        }),
        ms,
        what,
    );
}

// Resolves with fn()'s first truthy value, polling every 100 ms, or fails after ms (and
// then stops polling, so a timed-out wait does not keep calling a stopped server).
export function poll(what, ms, fn) {
    let over = false;
    return withDeadline(
        (async () => {
            while (!over) {
                const v = await fn();
                if (v) return v;
                await new Promise((r) => setTimeout(r, 100));
            }
        })(),
        ms,
        what,
    ).finally(() => {
        over = true;
    });
}

// Resolves once the client has finished decrypting `ev` (into a message or a failure).
export function waitForDecryption(ev, ms, what = "the client to decrypt") {
    return poll(what, ms, () => !ev.isBeingDecrypted() && ev.getType() === "m.room.message");
}

// The event as the server stores and serves it, fetched with `client`'s token.
export async function rawEvent(baseUrl, client, roomId, eventId) {
    const r = await fetch(
        `${baseUrl}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(eventId)}`,
        { headers: { authorization: `Bearer ${client.getAccessToken()}` } },
    );
    return r.json();
}
