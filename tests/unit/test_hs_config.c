/* Config parser: the shipped example is valid, documented and in sync with the
 * renderer; each class of mistake gives a message with file, line and key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_config.h"
#include "support/pgt.h"

static char err[1024];

static int parse(const char *yaml, hs_config *cfg)
{
    err[0] = '\0';
    return hs_config_parse(yaml, "test.yaml", "/base", cfg, err, sizeof err);
}

Test(hs_config, example_file_loads_with_defaults)
{
    hs_config cfg, def;
    int rc = hs_config_load(PG_SOURCE_DIR "/config.yaml.example", &cfg, err, sizeof err);
    cr_assert_eq(rc, 0, "example did not load: %s", err);
    hs_config_defaults(&def);
    cr_assert_str_eq(cfg.server_name, def.server_name);
    cr_assert_eq(cfg.client.port, 8008);
    cr_assert_eq(cfg.federation.port, 8448);
    cr_assert_eq(cfg.threads, def.threads);
    cr_assert_eq(cfg.max_request_body_bytes, def.max_request_body_bytes);
    cr_assert_str_eq(cfg.database_path, PG_SOURCE_DIR "/homeserver.db", "relative paths resolve to the file's dir");
}

Test(hs_config, example_file_is_the_rendered_defaults)
{
    hs_config def;
    hs_config_defaults(&def);
    char *rendered = hs_config_render(&def);
    char *file = pgt_slurp(PG_SOURCE_DIR "/config.yaml.example");
    cr_assert_not_null(file);
    cr_assert_str_eq(file, rendered, "config.yaml.example is stale: regenerate it with "
                                     "`pinegate generate-config` (see README)");
    free(rendered);
    free(file);
}

Test(hs_config, every_key_is_documented)
{
    hs_config def;
    hs_config_defaults(&def);
    char *r = hs_config_render(&def);
    /* Each "key:" line must be preceded by a comment line. */
    const char *prev = NULL;
    for (char *line = strtok(r, "\n"); line; line = strtok(NULL, "\n")) {
        const char *t = line + strspn(line, " ");
        if (*t != '#' && strchr(t, ':')) cr_assert(prev && strstr(prev, "#"), "undocumented: %s", line);
        prev = line;
    }
    free(r);
}

Test(hs_config, rendered_config_round_trips)
{
    hs_config a, b;
    hs_config_defaults(&a);
    snprintf(a.server_name, sizeof a.server_name, "example.org");
    a.client.port = 1234;
    a.threads = 7;
    a.log_format = HS_LOG_JSON;
    a.log_level = HS_LOG_DEBUG;
    char *r = hs_config_render(&a);
    cr_assert_eq(hs_config_parse(r, "r.yaml", NULL, &b, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(b.server_name, "example.org");
    cr_assert_eq(b.client.port, 1234);
    cr_assert_eq(b.threads, 7);
    cr_assert_eq(b.log_format, HS_LOG_JSON);
    cr_assert_eq(b.log_level, HS_LOG_DEBUG);
    free(r);
}

Test(hs_config, unknown_top_level_key)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\nthreads: 2\nbogus: 1\n", &cfg), -1);
    cr_assert_str_eq(err, "test.yaml:3: unknown key 'bogus'");
}

Test(hs_config, unknown_nested_key)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\nlimits:\n  max_connections: 5\n  max_conections: 6\n", &cfg), -1);
    cr_assert_str_eq(err, "test.yaml:4: unknown key 'max_conections' in 'limits'");
}

Test(hs_config, wrong_type_integer)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\nclient_listener:\n  port: eighty\n", &cfg), -1);
    cr_assert(strstr(err, "test.yaml:3: 'port' must be an integer from 0 to 65535, got 'eighty'"), "%s", err);
}

Test(hs_config, integer_out_of_range)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\nthreads: 0\n", &cfg), -1);
    cr_assert(strstr(err, "test.yaml:2: 'threads' must be an integer from 1 to 256"), "%s", err);
}

Test(hs_config, quoted_number_is_not_an_integer)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\nthreads: \"4\"\n", &cfg), -1);
    cr_assert(strstr(err, "'threads' must be an integer"), "%s", err);
}

Test(hs_config, mapping_where_value_expected)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name:\n  nested: x\n", &cfg), -1);
    cr_assert(strstr(err, "test.yaml:2: 'server_name' must be a single value, not a mapping"), "%s", err);
}

Test(hs_config, section_must_be_mapping)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\nlimits: 5\n", &cfg), -1);
    cr_assert(strstr(err, "test.yaml:2: 'limits' must be a mapping of keys"), "%s", err);
}

Test(hs_config, wrong_type_bool_and_enum)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\np2p:\n  enabled: maybe\n", &cfg), -1);
    cr_assert(strstr(err, "test.yaml:3: 'enabled' must be true or false, got 'maybe'"), "%s", err);
    cr_assert_eq(parse("server_name: a.org\nlog:\n  level: loud\n", &cfg), -1);
    cr_assert(strstr(err, "test.yaml:3: 'level' must be one of debug, info, warn, error; got 'loud'"), "%s", err);
    cr_assert_eq(parse("server_name: a.org\nlog:\n  format: xml\n", &cfg), -1);
    cr_assert(strstr(err, "'format' must be human or json"), "%s", err);
}

Test(hs_config, missing_required_server_name)
{
    hs_config cfg;
    cr_assert_eq(parse("threads: 2\n", &cfg), -1);
    cr_assert(strstr(err, "required key 'server_name' is missing"), "%s", err);
}

Test(hs_config, duplicate_key)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\nthreads: 2\nthreads: 3\n", &cfg), -1);
    cr_assert_str_eq(err, "test.yaml:3: key 'threads' appears twice");
}

Test(hs_config, yaml_syntax_error_has_line)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\nlimits:\n  max_connections: [1, 2\n", &cfg), -1);
    cr_assert(strstr(err, "test.yaml:") && strstr(err, "YAML syntax error"), "%s", err);
}

Test(hs_config, top_level_not_mapping_and_empty)
{
    hs_config cfg;
    cr_assert_eq(parse("- a\n- b\n", &cfg), -1);
    cr_assert(strstr(err, "top level must be a mapping"), "%s", err);
    cr_assert_eq(parse("", &cfg), -1);
    cr_assert(strstr(err, "empty"), "%s", err);
}

Test(hs_config, missing_file)
{
    hs_config cfg;
    cr_assert_eq(hs_config_load("/nonexistent/pinegate.yaml", &cfg, err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/pinegate.yaml: cannot open config file: No such file or directory"), "%s", err);
}

Test(hs_config, placeholder_sections)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\np2p:\nbridge: {}\nrelay:\n  enabled: false\n", &cfg), 0, "%s", err);
    cr_assert_eq(parse("server_name: a.org\nrelay:\n  enabled: true\n", &cfg), -1);
    cr_assert(strstr(err, "relay.enabled: true is not supported by this build yet"), "%s", err);
}

Test(hs_config, paths_resolve_against_base_dir)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: a.org\ndatabase:\n  path: db/x.db\nsigning_key_path: /abs/key\n", &cfg), 0, "%s", err);
    cr_assert_str_eq(cfg.database_path, "/base/db/x.db");
    cr_assert_str_eq(cfg.signing_key_path, "/abs/key");
    cr_assert_str_eq(cfg.federation.tls_certificate, "/base/tls.crt", "defaults resolve too");
}

Test(hs_config, server_name_grammar)
{
    hs_config cfg;
    cr_assert_eq(parse("server_name: \"bad name\"\n", &cfg), -1);
    cr_assert(strstr(err, "server_name 'bad name' is not a valid Matrix server name"), "%s", err);
    cr_assert_eq(parse("server_name: \"[::1]:8448\"\n", &cfg), 0, "%s", err);
    cr_assert_eq(parse("server_name: 127.0.0.1:8448\n", &cfg), 0, "%s", err);
}

Test(hs_config, control_characters_survive_rendering)
{
    hs_config a, b;
    hs_config_defaults(&a);
    snprintf(a.public_baseurl, sizeof a.public_baseurl, "http://x/\r\n\t\"q\\");
    char *r = hs_config_render(&a);
    cr_assert_eq(hs_config_parse(r, "r.yaml", NULL, &b, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(b.public_baseurl, a.public_baseurl);
    free(r);
}
