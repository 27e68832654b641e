/* pinegate: one binary, git-style subcommands. This file only dispatches; every
 * command lives with the module it belongs to and is listed here. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pg_commands.h"

int pg_cmd_version(int argc, char **argv);
int pg_cmd_event(int argc, char **argv);
int pg_cmd_json(int argc, char **argv);
int pg_cmd_state(int argc, char **argv);
int pc_cmd_sim(int argc, char **argv);
int pc_cmd_node(int argc, char **argv);
int fed_cmd_get(int argc, char **argv);

static const struct command {
    const char *name;
    const char *summary;
    pg_command_fn run;
} commands[] = {
    {"serve", "run the homeserver (--config FILE)", pg_cmd_serve},
    {"generate-config", "write a config, signing key and TLS certificate", pg_cmd_generate_config},
    {"generate-keys", "make a signing key, or the missing keys of a config", pg_cmd_generate_keys},
    {"version", "print the version", pg_cmd_version},
    {"event", "check or redact a Matrix PDU (event check|redact)", pg_cmd_event},
    {"json", "print the canonical JSON form of stdin (json canonical)", pg_cmd_json},
    {"state", "resolve room state or replay a room's events (state resolve|replay)", pg_cmd_state},
    {"sim", "run the deterministic Pinecone simulator (sim SCENARIO --help)", pc_cmd_sim},
    {"pinecone", "run a standalone Pinecone node (TCP peers, manhole, ping)", pc_cmd_node},
    {"fed-get", "send one signed federation request as a configured server", fed_cmd_get},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: pinegate <command> [options]   (pinegate <command> --help for details)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-18s %s\n", commands[i].name, commands[i].summary);
}

int pg_cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: pinegate version\n  Prints the pinegate version.\n");
        return 0;
    }
    printf("pinegate %s\n", PG_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) return pg_cmd_version(1, argv + 1);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "pinegate: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
