/*
 * orbis-idle is the idle form of a sliver's init (pid 1 of a running
 * sliver). The init (orbis-init, a Go program) makes the sliver, confines
 * itself and serves the host; once it has had no request for a moment
 * while the sliver's commands run, it executes this program in its place,
 * which holds a few pages instead of a Go runtime. orbis-idle only waits:
 * it reaps every child, reports the exit of each command the host waits
 * for, and executes the Go init again, with the same state, as soon as the
 * host connects to the control socket or the sliver has no process left.
 * It inherits all of the init's confinement (seccomp, Landlock, no_new_privs,
 * capabilities, namespaces, rlimits); it is run only from a sealed memfd
 * that nobody in the sliver may read, so exec leaves it undumpable.
 *
 * Its command line, which only the init writes (internal/sandbox, idle_linux.go):
 *
 *	orbis-idle LINGER CTL RAW INIT IDLE [PID:FD ...]
 *
 * LINGER is passed on to the init untouched; CTL is the listening control
 * socket; RAW the seccomp listener (or -1); INIT and IDLE the sealed
 * memfds of the two programs; each PID:FD is a command and the connection
 * to report its exit on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* serveEntry is the init's entry point for taking over again. */
#define SERVE_ENTRY "orbis-sandbox-serve"
/* MAX_WAITING bounds the commands the init hands over (maxIdleWaiting). */
#define MAX_WAITING 4096
/* Fixed arguments: LINGER CTL RAW INIT IDLE. */
#define FIXED_ARGS 5

struct waiter {
	int pid;
	int fd;
};

static struct waiter waiting[MAX_WAITING];
static int nwaiting;

static void die(const char *what)
{
	dprintf(2, "orbis-idle: %s: %s\n", what, strerror(errno));
	_exit(1);
}

/* parse_int reads a decimal number from -1 up, ended by its string or a
 * colon; it exits on anything else. */
static int parse_int(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || (*end != '\0' && *end != ':') || v < -1 || v > 1 << 30) {
		errno = EINVAL;
		die(s);
	}
	return (int)v;
}

/* report sends a command's wait status to whoever waits for it, as the
 * init would: {"exit":STATUS}. */
static void report(int fd, int status)
{
	char msg[32];
	int n = snprintf(msg, sizeof msg, "{\"exit\":%u}", (unsigned)status);

	send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* reap collects every exited child and returns how many are left running,
 * 0 for none. */
static int reap(void)
{
	for (;;) {
		int status, i;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			return 0; /* ECHILD */
		if (pid == 0)
			return 1;
		for (i = 0; i < nwaiting; i++) {
			if (waiting[i].pid == pid) {
				report(waiting[i].fd, status);
				waiting[i] = waiting[--nwaiting];
				break;
			}
		}
	}
}

/* serve executes the init again with argv[1..FIXED_ARGS] and the commands
 * still waited for. */
static void serve(char **argv, int initfd)
{
	static char pairs[MAX_WAITING][24];
	static char *args[1 + FIXED_ARGS + MAX_WAITING + 1];
	extern char **environ;
	sigset_t none;
	int i, n = 0;

	args[n++] = SERVE_ENTRY;
	for (i = 1; i <= FIXED_ARGS; i++)
		args[n++] = argv[i];
	for (i = 0; i < nwaiting; i++) {
		snprintf(pairs[i], sizeof pairs[i], "%d:%d", waiting[i].pid, waiting[i].fd);
		args[n++] = pairs[i];
	}
	args[n] = NULL;
	/* The init's commands start with the signal mask it starts with. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	syscall(SYS_execveat, initfd, "", args, environ, AT_EMPTY_PATH);
	die("execute the init");
}

int main(int argc, char **argv)
{
	struct pollfd fds[2];
	sigset_t chld;
	int i, ctl, initfd;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		die("set undumpable");
	if (argc < 1 + FIXED_ARGS || argc - 1 - FIXED_ARGS > MAX_WAITING) {
		errno = EINVAL;
		die("arguments");
	}
	ctl = parse_int(argv[2]);
	parse_int(argv[3]);
	initfd = parse_int(argv[4]);
	parse_int(argv[5]);
	for (i = 1 + FIXED_ARGS; i < argc; i++) {
		char *colon = strchr(argv[i], ':');

		if (colon == NULL) {
			errno = EINVAL;
			die(argv[i]);
		}
		waiting[nwaiting].pid = parse_int(argv[i]);
		waiting[nwaiting].fd = parse_int(colon + 1);
		nwaiting++;
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0)
		die("block SIGCHLD");
	fds[0].fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fds[0].fd < 0)
		die("signalfd");
	fds[0].events = POLLIN;
	fds[1].fd = ctl;
	fds[1].events = POLLIN;
	for (;;) {
		struct signalfd_siginfo si;

		/* Children exited before the signal was blocked are reaped here
		 * too: reap runs before every wait. */
		if (!reap())
			serve(argv, initfd); /* the init lingers, or exits */
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			die("poll");
		while (read(fds[0].fd, &si, sizeof si) > 0)
			;
		if (fds[1].revents != 0)
			serve(argv, initfd);
	}
}
