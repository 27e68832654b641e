/* `pinegate serve` with p2p.enabled, as a user runs it: generate-config, switch the p2p
 * section on (a TCP listener on p2p.listen, WebSocket peers on GET /ws of the client
 * listener), then real `pinegate pinecone` nodes peer with it:
 *  - node A (seed 01x32) dials ws://127.0.0.1:CLIENTPORT/ws: A's manhole lists the serve
 *    node's key (the hex public key of p2p.key, printed as the P2P identity) among its
 *    peers, both agree on the root (the higher key), and a ping to the serve node's key
 *    over the same WebSocket path is answered;
 *  - node B dials the serve node's TCP listener and pings A: the pings cross the serve
 *    node (B and A are not peered with each other);
 *  - SIGTERM with A still attached stops serve with exit 0, and A sees the peering end;
 *  - p2p.static_peers: serve dials a TCP node and a WebSocket node (ws://.../ws);
 *  - a plain GET /ws (no upgrade) is a 400, and with p2p disabled GET /ws is a 404;
 *  - p2p enabled with no way to peer is refused at start. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/pgt.h"

#define KEY_A "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
#define SEED_A "0101010101010101010101010101010101010101010101010101010101010101"

static char *dir;
static int cport, fport, tport;
static char cfgpath[1024];
static pgt_proc procs[3];
static bool running[3];

static void setup(void)
{
    dir = pgt_tmpdir();
    cport = pgt_free_port();
    fport = pgt_free_port();
    tport = pgt_free_port();
    snprintf(cfgpath, sizeof cfgpath, "%s/config.yaml", dir);
}

static void teardown(void)
{
    for (int i = 0; i < 3; i++)
        if (running[i]) pgt_stop(&procs[i], SIGKILL, 5000);
    memset(running, 0, sizeof running);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(p2p_serve, .init = setup, .fini = teardown, .timeout = 120);

/* Replaces the text `from` (first occurrence) with `to` in config.yaml. */
static void edit_config(const char *from, const char *to)
{
    char *text = pgt_slurp(cfgpath);
    cr_assert(text);
    char *at = strstr(text, from);
    cr_assert(at, "'%s' not in the generated config", from);
    FILE *f = fopen(cfgpath, "w");
    fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    fclose(f);
    free(text);
}

/* generate-config --dev, then edit_config(from, to) unless from is NULL. */
static void generate(const char *from, const char *to)
{
    char cp[16], fp[16], name[64];
    snprintf(cp, sizeof cp, "%d", cport);
    snprintf(fp, sizeof fp, "%d", fport);
    snprintf(name, sizeof name, "localhost:%d", fport);
    char *argv[] = {(char *)pgt_pinegate(), "generate-config", "--dev", "--data-dir", dir, "--server-name", name,
                    "--client-port", cp, "--federation-port", fp, NULL};
    char *out = NULL;
    cr_assert_eq(pgt_run(argv, &out), 0, "generate-config: %s", out);
    cr_assert(strstr(out, "wrote P2P identity key"), "%s", out);
    free(out);
    if (from) edit_config(from, to);
}

static void start_serve(void)
{
    char *argv[] = {(char *)pgt_pinegate(), "serve", "--config", cfgpath, NULL};
    cr_assert_eq(pgt_spawn(&procs[0], argv), 0);
    running[0] = true;
    cr_assert(pgt_wait_line(&procs[0], "federation API:", 30000, NULL, 0), "serve did not start:\n%s",
              procs[0].buf);
}

/* The hex public key of the seed in p2p.key. */
static void key_from_file(char out[65])
{
    char path[1100];
    snprintf(path, sizeof path, "%s/p2p.key", dir);
    char *hex = pgt_slurp(path);
    cr_assert(hex);
    uint8_t seed[32], pk[32], sk[64];
    size_t n = 0;
    cr_assert_eq(sodium_hex2bin(seed, 32, hex, strlen(hex), "\n", &n, NULL), 0);
    cr_assert_eq(n, 32);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_bin2hex(out, 65, pk, 32);
    free(hex);
}

static json_t *manhole(int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/manhole", port);
    pgt_http r = pgt_http_do(url, &(pgt_req){.timeout_ms = 3000});
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    pgt_http_free(&r);
    return j;
}

/* Runs a `pinegate pinecone ... --ping` node to its summary (at most 30 s) and returns
 * whether it printed "reply from <key>"; its output stays in procs[2].buf. */
static bool ping_run(const char *connect, const char *key)
{
    char *argv[] = {(char *)pgt_pinegate(), "pinecone", "--connect", (char *)connect, "--ping", (char *)key,
                    "--count", "3", NULL};
    cr_assert_eq(pgt_spawn(&procs[2], argv), 0);
    running[2] = true;
    bool done = pgt_wait_line(&procs[2], "ping statistics", 30000, NULL, 0);
    int rc = pgt_stop(&procs[2], done ? 0 : SIGTERM, 5000);
    running[2] = false;
    char want[128];
    snprintf(want, sizeof want, "reply from %s", key);
    return done && rc == 0 && strstr(procs[2].buf, want);
}

static long ws_status(const char *const *headers)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ws", cport);
    pgt_http r = pgt_http_do(url, &(pgt_req){.headers = headers, .timeout_ms = 5000});
    long st = r.status;
    pgt_http_free(&r);
    return st;
}

Test(p2p_serve, websocket_and_tcp_peers_ping_and_relay_then_clean_stop)
{
    generate("enabled: false\n  # TCP address", "enabled: true\n  # TCP address");
    char listen[64];
    snprintf(listen, sizeof listen, "listen: \"127.0.0.1:%d\"", tport);
    edit_config("listen: \"\"", listen);
    start_serve();
    char line[512], s_key[65], file_key[65];
    cr_assert(pgt_wait_line(&procs[0], "P2P identity:", 5000, line, sizeof line), "%s", procs[0].buf);
    cr_assert_eq(sscanf(line, " P2P identity: %64s", s_key), 1, "%s", line);
    key_from_file(file_key);
    cr_assert_str_eq(s_key, file_key, "the P2P server name is the hex public key of p2p.key");

    /* A dials the client listener's /ws. */
    int mport = pgt_free_port();
    char mh[32], ws[64];
    snprintf(mh, sizeof mh, "127.0.0.1:%d", mport);
    snprintf(ws, sizeof ws, "ws://127.0.0.1:%d/ws", cport);
    char *a_argv[] = {(char *)pgt_pinegate(), "pinecone", "--secret-key", SEED_A, "--manhole", mh, "--connect", ws, NULL};
    cr_assert_eq(pgt_spawn(&procs[1], a_argv), 0);
    running[1] = true;
    cr_assert(pgt_wait_line(&procs[1], "peer up", 15000, NULL, 0), "A never peered:\n%s\nserve:\n%s",
              procs[1].buf, procs[0].buf);
    const char *want_root = strcmp(s_key, KEY_A) > 0 ? s_key : KEY_A;
    bool peered = false, rooted = false;
    for (long end = pgt_now_ms() + 15000; pgt_now_ms() < end && !(peered && rooted); usleep(200 * 1000)) {
        json_t *m = manhole(mport);
        if (!m) continue;
        peered = json_object_get(json_object_get(m, "peers"), s_key) != NULL;
        const char *root = json_string_value(json_object_get(json_object_get(m, "root"), "root_public_key"));
        rooted = root && strcmp(root, want_root) == 0;
        json_decref(m);
    }
    cr_assert(peered, "A's manhole does not list the serve node %s as a peer", s_key);
    cr_assert(rooted, "A did not converge on root %s", want_root);

    /* A ping to the serve node's P2P key over the same /ws path. */
    cr_assert(ping_run(ws, s_key), "ping over /ws failed:\n%s", procs[2].buf);

    /* B on the TCP listener pings A: only the serve node links them. */
    char tcp[32];
    snprintf(tcp, sizeof tcp, "127.0.0.1:%d", tport);
    cr_assert(ping_run(tcp, KEY_A), "ping across the serve node failed:\n%s\nserve:\n%s", procs[2].buf,
              procs[0].buf);

    /* Not an upgrade: the hook answers 400 rather than the router's 404. */
    cr_assert_eq(ws_status(NULL), 400);

    int rc = pgt_stop(&procs[0], SIGTERM, 15000);
    running[0] = false;
    cr_assert_eq(rc, 0, "serve must stop cleanly with a peer attached, got %d:\n%s", rc, procs[0].buf);
    cr_assert(strstr(procs[0].buf, "stopped cleanly"), "%s", procs[0].buf);
    char want[128];
    snprintf(want, sizeof want, "peer down: port 1 key %s", s_key);
    cr_assert(pgt_wait_line(&procs[1], want, 10000, NULL, 0), "A did not see the peering end:\n%s", procs[1].buf);
}

Test(p2p_serve, static_peers_over_tcp_and_websocket_are_dialled)
{
    int c_port = pgt_free_port(), d_port = pgt_free_port();
    char c_addr[32], d_addr[32], peers[160];
    snprintf(c_addr, sizeof c_addr, "127.0.0.1:%d", c_port);
    snprintf(d_addr, sizeof d_addr, "127.0.0.1:%d", d_port);
    char *c_argv[] = {(char *)pgt_pinegate(), "pinecone", "--listen", c_addr, NULL};
    char *d_argv[] = {(char *)pgt_pinegate(), "pinecone", "--listen-ws", d_addr, NULL};
    cr_assert_eq(pgt_spawn(&procs[1], c_argv), 0);
    running[1] = true;
    cr_assert_eq(pgt_spawn(&procs[2], d_argv), 0);
    running[2] = true;
    cr_assert(pgt_wait_line(&procs[1], "listening on", 15000, NULL, 0), "%s", procs[1].buf);
    cr_assert(pgt_wait_line(&procs[2], "listening for websocket", 15000, NULL, 0), "%s", procs[2].buf);

    generate("enabled: false\n  # TCP address", "enabled: true\n  # TCP address");
    snprintf(peers, sizeof peers, "static_peers: \"%s,ws://%s/ws\"", c_addr, d_addr);
    edit_config("static_peers: \"\"", peers);
    start_serve();
    char line[512], s_key[65], want[128];
    cr_assert(pgt_wait_line(&procs[0], "P2P identity:", 5000, line, sizeof line), "%s", procs[0].buf);
    cr_assert_eq(sscanf(line, " P2P identity: %64s", s_key), 1, "%s", line);
    snprintf(want, sizeof want, "key %s", s_key);
    cr_assert(pgt_wait_line(&procs[1], want, 15000, NULL, 0), "the TCP peer never saw serve:\n%s\nserve:\n%s",
              procs[1].buf, procs[0].buf);
    cr_assert(pgt_wait_line(&procs[2], want, 15000, NULL, 0), "the WebSocket peer never saw serve:\n%s\nserve:\n%s",
              procs[2].buf, procs[0].buf);
    int rc = pgt_stop(&procs[0], SIGTERM, 15000);
    running[0] = false;
    cr_assert_eq(rc, 0, "%s", procs[0].buf);
}

Test(p2p_serve, disabled_means_no_ws_path)
{
    generate(NULL, NULL);
    start_serve();
    const char *hdrs[] = {"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", NULL};
    cr_assert_eq(ws_status(hdrs), 404);
    cr_assert_null(strstr(procs[0].buf, "P2P identity"), "%s", procs[0].buf);
    int rc = pgt_stop(&procs[0], SIGTERM, 15000);
    running[0] = false;
    cr_assert_eq(rc, 0, "%s", procs[0].buf);
}

Test(p2p_serve, websocket_path_can_be_turned_off)
{
    generate("enabled: false\n  # TCP address", "enabled: true\n  # TCP address");
    edit_config("websocket_path_enabled: true", "websocket_path_enabled: false");
    /* no listener, no peers, no multicast and no /ws: nothing could ever peer */
    char *argv[] = {(char *)pgt_pinegate(), "serve", "--config", cfgpath, NULL};
    char *out = NULL;
    cr_assert_eq(pgt_run(argv, &out), 1, "%s", out);
    cr_assert(strstr(out, "p2p.enabled: true needs a way to peer"), "%s", out);
    free(out);
}
