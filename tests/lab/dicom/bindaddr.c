/* LD_PRELOAD shim for the DICOM lab (tests/lab/dicomlab.py): bind() to the wildcard address becomes
 * bind() to $SHAREAUDIT_BIND_ADDRESS, so that a server with no bind-address option of its own (Orthanc
 * 1.10's DICOM and HTTP servers) listens on one loopback address only, never on every interface.
 * An IPv6 wildcard bind fails instead (the lab is IPv4 loopback only). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static bind_fn real_bind;
    if (!real_bind)
        real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    const char *wanted = getenv("SHAREAUDIT_BIND_ADDRESS");
    if (wanted && addr && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, addr, sizeof in);
        if (in.sin_addr.s_addr == htonl(INADDR_ANY)) {
            if (inet_pton(AF_INET, wanted, &in.sin_addr) != 1) {
                errno = EADDRNOTAVAIL;
                return -1;
            }
            return real_bind(fd, (const struct sockaddr *)&in, sizeof in);
        }
    }
    if (wanted && addr && addr->sa_family == AF_INET6) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    return real_bind(fd, addr, len);
}
