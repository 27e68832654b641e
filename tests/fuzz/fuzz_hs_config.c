/* Fuzz target: the config parser on arbitrary YAML text. It must return 0 or -1 with
 * a message, never crash, and a config it accepts must render and re-parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > HS_CONFIG_MAX_BYTES) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    hs_config cfg, again;
    char err[1024];
    if (hs_config_parse(text, "fuzz.yaml", NULL, &cfg, err, sizeof err) == 0) {
        char *r = hs_config_render(&cfg);
        if (!r || hs_config_parse(r, "rendered.yaml", NULL, &again, err, sizeof err) != 0) abort();
        if (strcmp(cfg.server_name, again.server_name) != 0 || cfg.threads != again.threads) abort();
        free(r);
    } else if (err[0] == '\0') {
        abort(); /* every rejection explains itself */
    }
    free(text);
    return 0;
}
