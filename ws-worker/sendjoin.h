/* sendjoin.h -- the frames libwebsockets writes for one socket in a batch, joined into one send.
 *
 * Why: a fan-out gives each socket several frames per read from Redis (about 14 at full rate
 * on the 1,000-socket bench), and libwebsockets 4.1.6 frames each message and sends it with
 * its own send() inside lws_write(). On this VM a system call costs more than the rest of a
 * delivery: perf puts 80% of ws-worker's time per delivery in those send() calls. lws 4.1.6 has
 * no way to frame without sending (LWS_WRITE_BUFLIST is declared in its header but nothing in
 * the library reads it), and framing by hand is not ours to do.
 *
 * How: ws-worker defines send() itself, which the dynamic linker then binds lws' calls to (an
 * executable's symbols come first). Outside a capture it is libc's send (found with
 * dlsym(RTLD_NEXT)), unchanged. Between sendjoin_begin(fd) and sendjoin_end(), what lws sends
 * on that one descriptor is appended to the caller's buffer instead and reported as sent, so
 * lws' state is that of a socket that took every byte; the caller then hands the joined
 * frames back to lws as one raw write (lws_write(LWS_WRITE_RAW)), which sends them with one
 * system call and buffers whatever the kernel does not take, as it does for any write.
 *
 * The contract the caller keeps: during a capture only lws_write() of whole frames that fit
 * (sendjoin_room() at least the payload plus SENDJOIN_HEADER_MAX, and no more than lws sends in
 * one call: the protocol's tx_packet_size), on a socket with nothing buffered in lws, so that
 * every captured send is a whole frame and order is kept. Should lws still send more than the
 * room (a broken contract), the capture takes what fits and reports a short send: lws then
 * buffers the rest, and sendjoin_end() reports the overflow so the caller closes the socket
 * rather than send frames out of order.
 *
 * One capture at a time per process (ws-worker is single-threaded); the state is the one
 * global here because libc's send() signature has no room for a parameter. */
#ifndef TOKENAUTH_SENDJOIN_H
#define TOKENAUTH_SENDJOIN_H

#include <stddef.h>

#define SENDJOIN_HEADER_MAX 14 /* bytes a frame's header can take (10 for a server's) */

#define SENDJOIN_OK 0
#define SENDJOIN_ERR_BUSY -1     /* a capture is already open */
#define SENDJOIN_ERR_OVERFLOW -2 /* lws sent more than the room: the frames are not whole */

/* From now on, send() on fd appends to buf (cap bytes) instead. SENDJOIN_OK or _ERR_BUSY. */
int sendjoin_begin(int fd, unsigned char *buf, size_t cap);

/* Bytes still free in the open capture's buffer (0 when none is open). */
size_t sendjoin_room(void);

/* Ends the capture; *len gets the bytes captured. SENDJOIN_OK, or SENDJOIN_ERR_OVERFLOW when a
 * send did not fit (*len is still what was captured). */
int sendjoin_end(size_t *len);

#endif
