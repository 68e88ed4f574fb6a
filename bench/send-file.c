/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * send-file: stream a file of syslog lines to 127.0.0.1:PORT over ONE TCP
 * connection, in large write()s, so that the sender costs next to nothing
 * next to the daemon it measures.
 *
 *   send-file PORT FILE [--chunk BYTES] [--rate LINES_PER_SECOND]
 *
 * Prints "first_byte_monotonic=<seconds>" (CLOCK_MONOTONIC, the clock of
 * Python's time.monotonic()) once the first write() returned, and
 * "done_monotonic=<seconds> bytes=<n>" at the end.  With --rate it sends one
 * line at a time, paced, for latency measurements.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double
_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
_write_all(int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write(fd, data, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          perror("send-file: write");
          return -1;
        }
      data += n;
      len -= (size_t) n;
    }
  return 0;
}

static int
_connect(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    {
      perror("send-file: socket");
      return -1;
    }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
    {
      perror("send-file: connect");
      close(fd);
      return -1;
    }
  return fd;
}

static void
_sleep_until(double deadline)
{
  double left = deadline - _now();
  if (left <= 0)
    return;
  struct timespec ts = {.tv_sec = (time_t) left, .tv_nsec = (long) ((left - (time_t) left) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int
_send_paced(int fd, const char *data, size_t len, double rate)
{
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  double start = _now();
  size_t line = 0;
  const char *end = data + len;
  while (data < end)
    {
      const char *nl = memchr(data, '\n', (size_t) (end - data));
      size_t n = nl ? (size_t) (nl - data) + 1 : (size_t) (end - data);
      _sleep_until(start + line / rate);
      if (_write_all(fd, data, n) != 0)
        return -1;
      if (line == 0)
        printf("first_byte_monotonic=%.6f\n", _now());
      data += n;
      line++;
    }
  return 0;
}

static int
_send_bulk(int fd, const char *data, size_t len, size_t chunk)
{
  for (size_t off = 0; off < len; off += chunk)
    {
      size_t n = len - off < chunk ? len - off : chunk;
      if (_write_all(fd, data + off, n) != 0)
        return -1;
      if (off == 0)
        printf("first_byte_monotonic=%.6f\n", _now());
    }
  return 0;
}

int
main(int argc, char **argv)
{
  if (argc < 3)
    {
      fprintf(stderr, "usage: %s PORT FILE [--chunk BYTES] [--rate LINES_PER_SECOND]\n", argv[0]);
      return 2;
    }
  int port = atoi(argv[1]);
  const char *path = argv[2];
  size_t chunk = 256 * 1024;
  double rate = 0;
  for (int i = 3; i + 1 < argc; i += 2)
    {
      if (strcmp(argv[i], "--chunk") == 0)
        chunk = strtoul(argv[i + 1], NULL, 10);
      else if (strcmp(argv[i], "--rate") == 0)
        rate = strtod(argv[i + 1], NULL);
      else
        {
          fprintf(stderr, "send-file: unknown option %s\n", argv[i]);
          return 2;
        }
    }
  if (chunk == 0)
    chunk = 256 * 1024;

  int file = open(path, O_RDONLY);
  struct stat st;
  if (file < 0 || fstat(file, &st) != 0)
    {
      perror("send-file: open");
      return 1;
    }
  size_t len = (size_t) st.st_size;
  const char *data = "";
  if (len > 0)
    {
      data = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, file, 0);
      if (data == MAP_FAILED)
        {
          perror("send-file: mmap");
          return 1;
        }
    }

  int fd = _connect(port);
  if (fd < 0)
    return 1;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = rate > 0 ? _send_paced(fd, data, len, rate) : _send_bulk(fd, data, len, chunk);
  printf("done_monotonic=%.6f bytes=%zu\n", _now(), len);
  shutdown(fd, SHUT_WR);
  close(fd);
  return rc == 0 ? 0 : 1;
}
