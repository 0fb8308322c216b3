/* e2e-netprobe: tries to reach the network from wherever it runs and prints one line per attempt, then
 * "NETPROBE unix=ok|fail nonunix_open=N" (N = non-Unix attempts whose socket() or connect() succeeded).
 * Run as an ExecReload= of sentei.service it shows what the service's own sandbox allows. Exit 0 always (the
 * verdict is for the caller). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int opened;

static void attempt(const char *name, int family, int type, const struct sockaddr *addr, socklen_t addrlen)
{
	int fd = socket(family, type, 0);
	if (fd < 0) { printf("NETPROBE %s socket: %s\n", name, strerror(errno)); return; }
	if (!addr) { printf("NETPROBE %s socket: opened\n", name); opened++; close(fd); return; }
	if (connect(fd, addr, addrlen) == 0) { printf("NETPROBE %s connect: connected\n", name); opened++; }
	else printf("NETPROBE %s connect: %s\n", name, strerror(errno));
	close(fd);
}

int main(void)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET, .sin_port = htons(53) };
	inet_pton(AF_INET, "10.0.2.2", &v4.sin_addr); /* QEMU's user-net gateway */
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_port = htons(9) };
	inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	inet_pton(AF_INET6, "2001:4860:4860::8888", &v6.sin6_addr);
	attempt("tcp4-10.0.2.2:53", AF_INET, SOCK_STREAM, (struct sockaddr *)&v4, sizeof v4);
	attempt("udp4-10.0.2.2:53", AF_INET, SOCK_DGRAM, (struct sockaddr *)&v4, sizeof v4);
	attempt("tcp4-127.0.0.1:9", AF_INET, SOCK_STREAM, (struct sockaddr *)&lo, sizeof lo);
	attempt("tcp6-[2001:4860:4860::8888]:53", AF_INET6, SOCK_STREAM, (struct sockaddr *)&v6, sizeof v6);
	attempt("netlink-route", AF_NETLINK, SOCK_RAW, NULL, 0);
	attempt("packet", AF_PACKET, SOCK_DGRAM, NULL, 0);
	int ufd = socket(AF_UNIX, SOCK_STREAM, 0);
	printf("NETPROBE unix=%s nonunix_open=%d\n", ufd >= 0 ? "ok" : "fail", opened);
	if (ufd >= 0) close(ufd);
	return 0;
}
