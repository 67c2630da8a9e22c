/* Privilege and kernel actions for the sensor's end-to-end test, run inside a container.
 * Built statically by the test (clang -static). Each call is made whether or not it can
 * succeed in the container: the sensor reports attempts. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void run_child(void (*body)(void))
{
	pid_t pid = fork();

	if (pid == 0) {
		body();
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static void ids(void)
{
	setgid(1234);
	setuid(4321);
}

static void trace(void)
{
	pid_t target = fork();

	if (target == 0) {
		pause();
		_exit(0);
	}
	ptrace(PTRACE_ATTACH, target, NULL, NULL);
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
}

static void memfd_exec(void)
{
	char buf[65536];
	ssize_t n;
	int in = open("/bin/busybox", O_RDONLY);
	int fd = memfd_create("vigil-payload", 0);
	char *argv[] = {"true", NULL};
	char *envp[] = {NULL};

	while ((n = read(in, buf, sizeof(buf))) > 0)
		write(fd, buf, n);
	fexecve(fd, argv, envp);
	_exit(1);
}

static void reexec(void)
{
	char *argv[] = {"vigil-reexec", "noop", NULL};
	char *envp[] = {NULL};

	execve("/proc/self/exe", argv, envp);
	_exit(1);
}

int main(int argc, char **argv)
{
	char attr[128] = {0};
	int ns;

	if (argc > 1 && strcmp(argv[1], "noop") == 0)
		return 0;
	run_child(ids);
	run_child(trace);
	mount("none", "/tmp", "tmpfs", 0, NULL);
	umount2("/tmp/vigil-none", 0);
	unshare(CLONE_NEWUTS);
	ns = open("/proc/self/ns/uts", O_RDONLY);
	setns(ns, CLONE_NEWUTS);
	syscall(SYS_bpf, 0, attr, sizeof(attr));
	run_child(memfd_exec);
	run_child(reexec);
	return 0;
}
