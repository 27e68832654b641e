/* The p2p section of the config: defaults (off, GET /ws on when enabled, ALPN matrix, the
 * key beside the config), a full section parses into the fields serve uses, and each
 * mistake in a peer list or listen address names file, line, key and the entry. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server-core/hs_config.h"

static char err[1024];

static int parse(const char *yaml, hs_config *cfg)
{
    err[0] = '\0';
    return hs_config_parse(yaml, "test.yaml", "/base", cfg, err, sizeof err);
}

Test(hs_config_p2p, defaults)
{
    hs_config c;
    cr_assert_eq(parse("server_name: a.org\n", &c), 0, "%s", err);
    cr_assert_not(c.p2p_enabled);
    cr_assert(c.p2p_websocket_path_enabled);
    cr_assert_not(c.p2p_multicast);
    cr_assert_str_eq(c.p2p_listen, "");
    cr_assert_str_eq(c.p2p_static_peers, "");
    cr_assert_str_eq(c.p2p_alpn, "matrix");
    cr_assert_str_eq(c.p2p_private_key_path, "/base/p2p.key");
}

Test(hs_config_p2p, full_section)
{
    hs_config c;
    cr_assert_eq(parse("server_name: a.org\n"
                       "p2p:\n"
                       "  enabled: true\n"
                       "  listen: \"[::]:0\"\n"
                       "  static_peers: \"10.0.0.1:7000,ws://peer.example:8008/ws,wss://p.example/ws,wss://[::1]:8443/x\"\n"
                       "  multicast: true\n"
                       "  multicast_interfaces: eth1\n"
                       "  websocket_path_enabled: false\n"
                       "  private_key_path: keys/p2p.hex\n"
                       "  alpn: test-alpn\n",
                       &c),
                 0, "%s", err);
    cr_assert(c.p2p_enabled);
    cr_assert_str_eq(c.p2p_listen, "[::]:0");
    cr_assert_str_eq(c.p2p_static_peers, "10.0.0.1:7000,ws://peer.example:8008/ws,wss://p.example/ws,wss://[::1]:8443/x");
    cr_assert(c.p2p_multicast);
    cr_assert_str_eq(c.p2p_multicast_interfaces, "eth1");
    cr_assert_not(c.p2p_websocket_path_enabled);
    cr_assert_str_eq(c.p2p_private_key_path, "/base/keys/p2p.hex");
    cr_assert_str_eq(c.p2p_alpn, "test-alpn");
}

Test(hs_config_p2p, bad_peer_names_line_and_entry)
{
    hs_config c;
    cr_assert_eq(parse("server_name: a.org\np2p:\n  enabled: true\n  static_peers: \"1.2.3.4:5,ws://nohost/ws\"\n", &c), -1);
    cr_assert(strstr(err, "test.yaml:4: 'static_peers': peer 2 'ws://nohost/ws': want host:port"), "%s", err);
    cr_assert_eq(parse("server_name: a.org\np2p:\n  static_peers: \"1.2.3.4:99999\"\n", &c), -1);
    cr_assert(strstr(err, "test.yaml:3: 'static_peers': peer 1 '1.2.3.4:99999': the port must be"), "%s", err);
    cr_assert_eq(parse("server_name: a.org\np2p:\n  static_peers: \"a:1,,b:2\"\n", &c), -1);
    cr_assert(strstr(err, "peer 2 '': an empty entry"), "%s", err);
    cr_assert_eq(parse("server_name: a.org\np2p:\n  static_peers: \"http://a:1/ws\"\n", &c), -1);
    cr_assert(strstr(err, "want host:port, ws://host:port/path or wss://host[:port]/path"), "%s", err);
    char many[512] = "server_name: a.org\np2p:\n  static_peers: \"";
    for (int i = 0; i < 17; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "%sh%d:1", i ? "," : "", i);
    strcat(many, "\"\n");
    cr_assert_eq(parse(many, &c), -1);
    cr_assert(strstr(err, "test.yaml:3: 'static_peers': at most 16 peers"), "%s", err);
}

Test(hs_config_p2p, bad_listen_names_line)
{
    hs_config c;
    cr_assert_eq(parse("server_name: a.org\np2p:\n  listen: \"7000\"\n", &c), -1);
    cr_assert(strstr(err, "test.yaml:3: 'listen': '7000': want host:port"), "%s", err);
    cr_assert_eq(parse("server_name: a.org\np2p:\n  listen: \"::1:7000\"\n", &c), -1);
    cr_assert(strstr(err, "test.yaml:3: 'listen'"), "%s", err);
    cr_assert(strstr(err, "IPv6 in brackets"), "%s", err);
}

Test(hs_config_p2p, enabled_needs_a_way_to_peer_and_one_interface)
{
    hs_config c;
    cr_assert_eq(parse("server_name: a.org\np2p:\n  enabled: true\n  websocket_path_enabled: false\n", &c), -1);
    cr_assert(strstr(err, "p2p.enabled: true needs a way to peer"), "%s", err);
    cr_assert_eq(parse("server_name: a.org\np2p:\n  enabled: true\n  multicast: true\n"
                       "  multicast_interfaces: \"eth0,eth1\"\n",
                       &c),
                 -1);
    cr_assert(strstr(err, "only one interface name is supported"), "%s", err);
    cr_assert_eq(parse("server_name: a.org\np2p:\n  enabled: true\n  alpn: \"\"\n", &c), -1);
    cr_assert(strstr(err, "p2p.alpn must be 1 to 32 bytes"), "%s", err);
    /* the same values are fine while p2p is off */
    cr_assert_eq(parse("server_name: a.org\np2p:\n  websocket_path_enabled: false\n", &c), 0, "%s", err);
}
