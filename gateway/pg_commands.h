/* pg_commands: the process-level commands that wire several modules together
 * (server-core with federation-side), so they live beside main.c rather than in a
 * module. */
#ifndef PG_COMMANDS_H
#define PG_COMMANDS_H

/* pinegate serve --config FILE */
int pg_cmd_serve(int argc, char **argv);

/* pinegate generate-config [--server-name N] [--data-dir D] [--client-port P]
 *                          [--federation-port P] [--dev] */
int pg_cmd_generate_config(int argc, char **argv);

/* pinegate generate-keys [--config FILE] */
int pg_cmd_generate_keys(int argc, char **argv);

#endif
