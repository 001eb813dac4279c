// Bench helper (bench/probe-effect.ts): runs a command N times, one after the
// other, and writes one line per run to OUT: wall ns (fork → reaped, on
// CLOCK_MONOTONIC), the child's CPU ns (user + system, from wait4's rusage)
// and its raw wait status. Timing inside one small process keeps the tracer's
// own start and stop, and Node's event loop, out of the numbers.
//
// usage: repeat-runs OUT N COMMAND [ARG...]   (COMMAND looked up on PATH;
// its stdout and stderr are this program's: the caller chooses where they go)
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long tv_ns(struct timeval tv) { return tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL; }

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: repeat-runs OUT N COMMAND [ARG...]\n");
    return 2;
  }
  FILE *out = fopen(argv[1], "w");
  if (!out) {
    perror(argv[1]);
    return 2;
  }
  int runs = atoi(argv[2]);
  for (int i = 0; i < runs; i++) {
    long long start = now_ns();
    pid_t child = fork();
    if (child < 0) {
      perror("fork");
      return 2;
    }
    if (child == 0) {
      execvp(argv[3], argv + 3);
      perror(argv[3]);
      _exit(127);
    }
    int status;
    struct rusage usage;
    if (wait4(child, &status, 0, &usage) != child) {
      perror("wait4");
      return 2;
    }
    long long wall = now_ns() - start;
    fprintf(out, "%lld %lld %d\n", wall, tv_ns(usage.ru_utime) + tv_ns(usage.ru_stime), status);
  }
  return fclose(out) == 0 ? 0 : 2;
}
