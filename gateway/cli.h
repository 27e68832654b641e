/* cli.h: the shape of a `pinegate` subcommand. Each module that offers a command exports
 * one function of this type; gateway/main.c lists them in its dispatch table.
 * argv[0] is the subcommand name; the function handles its own --help and returns the
 * process exit status (0 success, 1 failure, 2 usage error). */
#ifndef PG_CLI_H
#define PG_CLI_H

typedef int (*pg_command_fn)(int argc, char **argv);

#endif
