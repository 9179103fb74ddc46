/* prog.h -- ws-worker's name, as its log lines and messages to stderr show it.
 *
 * One definition for every file of ws-worker: log_begin()/log_msg() take it as the program
 * field, and main.c's messages start with it ("ws-worker: ..."). A string literal, so it can be
 * joined with others at compile time. */
#ifndef TOKENAUTH_PROG_H
#define TOKENAUTH_PROG_H

#define PROG "ws-worker"

#endif
