/* listen.h -- the listening socket of one worker, shared with its siblings by SO_REUSEPORT.
 *
 * libwebsockets 4.1 does not set SO_REUSEPORT on its own listener (its ALLOW_LISTEN_SHARE option
 * only shares one port between vhosts of one context), so each worker opens the socket itself
 * and the kernel spreads new connections across the workers. protocol.c watches it inside the
 * lws loop and adopt.c hands every accepted connection to lws. */
#ifndef TOKENAUTH_LISTEN_H
#define TOKENAUTH_LISTEN_H

#include <stddef.h>

struct addrinfo;

#define LISTEN_BACKLOG 4096

/* Resolves addr (numeric only: a name could resolve differently in each worker) and port for a
 * listening TCP socket into *out (freed with freeaddrinfo). Returns getaddrinfo's code, 0 when it
 * worked. --check calls it to refuse exactly what listen_open() would. */
int listen_resolve(const char *addr, int port, struct addrinfo **out);

/* Opens a non-blocking TCP socket with SO_REUSEADDR and SO_REUSEPORT, and TCP_NODELAY for the
 * sockets it accepts (they inherit it), bound to addr (a numeric IPv4 or IPv6 address) and
 * port, listening. Returns the descriptor, or -1 with "what: why" in
 * err. */
int listen_open(const char *addr, int port, char *err, size_t err_len);

#endif
