/* fed_cmd_get: `pinegate fed-get`, a federation request from the command line with a
 * server's identity: discovery, deny-list, TLS rules and X-Matrix signing exactly as the
 * server itself would apply them. For operators checking that a peer is reachable and
 * accepts our signatures, and for the integration tests. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "federation-side/fed_client.h"
#include "server-core/hs_config.h"
#include "server-core/hs_signing_key.h"

int fed_cmd_get(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(out, "usage: pinegate fed-get --config FILE [--method M] [--data JSON] [--unsigned] SERVER PATH\n\n"
                 "Sends one Server-Server request to SERVER (resolved like the server does) as the\n"
                 "server described by FILE, signed with its key (X-Matrix) unless --unsigned, and\n"
                 "prints \"HTTP <status>\" and the response body.\n\n"
                 "  --method M   HTTP method (default GET, or POST with --data)\n"
                 "  --data JSON  request body\n"
                 "  --unsigned   send no Authorization header\n\n"
                 "Exit status: 0 for a 2xx answer, 3 for another HTTP answer, 1 when no answer came.\n");
}

int fed_cmd_get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"method", required_argument, NULL, 'm'},
        {"data", required_argument, NULL, 'd'},   {"unsigned", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *method = NULL, *data = NULL;
    bool sign = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:m:d:uh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'm': method = optarg; break;
        case 'd': data = optarg; break;
        case 'u': sign = false; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!config_path || argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const char *server = argv[optind], *path = argv[optind + 1];
    hs_config cfg;
    char err[1024];
    if (hs_config_load(config_path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "pinegate fed-get: %s\n", err);
        return 1;
    }
    hs_signing_key key;
    if (hs_signing_key_load(cfg.signing_key_path, &key, err, sizeof err) != 0) {
        fprintf(stderr, "pinegate fed-get: %s\n", err);
        return 1;
    }
    hs_err e;
    json_t *content = NULL;
    if (data && !(content = hs_cjson_parse(data, strlen(data), 1 << 20, HS_CJSON_ANY, &e))) {
        fprintf(stderr, "pinegate fed-get: --data: %s\n", e.msg);
        return 2;
    }
    fed_client *fc = fed_client_from_config(&cfg, &key, &e);
    if (!fc) {
        fprintf(stderr, "pinegate fed-get: %s\n", e.msg);
        json_decref(content);
        return 1;
    }
    hs_fed_out req = {
        .destination = server,
        .method = method ? method : content ? "POST" : "GET",
        .target = path,
        .content = content,
        .sign = sign,
    };
    hs_fed_reply reply;
    int rc = 1;
    if (fed_client_request(fc, &req, &reply, &e) != 0) {
        fprintf(stderr, "pinegate fed-get: %s\n", e.msg);
    } else {
        printf("HTTP %ld\n%s\n", reply.status, reply.body);
        rc = reply.status >= 200 && reply.status < 300 ? 0 : 3;
        hs_fed_reply_free(&reply);
    }
    fed_client_free(fc);
    json_decref(content);
    return rc;
}
