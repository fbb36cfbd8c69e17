/*
 * pthreads: glibc's threads on the kernel's clone(CLONE_VM|CLONE_THREAD...)
 * and futexes. Threads share memory and a mutex keeps a shared count
 * exact; a condition variable hands items from a producer to a consumer;
 * each thread has its own TLS and TID but the process's PID; pthread_join
 * returns a thread's value (the kernel clears and futex-wakes its TID
 * word); a thread's exit_group, or a fatal signal in a thread, ends the
 * whole process; tgkill reaches the named thread; raw futex calls give
 * Linux's errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 4
#define ROUNDS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static __thread int tls_value;
static pid_t main_pid;

static void *adder(void *arg)
{
	int id = (int)(intptr_t)arg;
	tls_value = id * 100;
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
		if (i % 5000 == 0)
			sched_yield();
	}
	int ok = getpid() == main_pid && gettid() != main_pid && tls_value == id * 100;
	return (void *)(intptr_t)(ok ? id + 1 : -1);
}

/* A bounded queue with two condition variables. */
#define QSIZE 4
#define ITEMS 2000
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static int queue[QSIZE], qhead, qlen;

static void *producer(void *arg)
{
	(void)arg;
	for (int i = 1; i <= ITEMS; i++) {
		pthread_mutex_lock(&qlock);
		while (qlen == QSIZE)
			pthread_cond_wait(&not_full, &qlock);
		queue[(qhead + qlen++) % QSIZE] = i;
		pthread_cond_signal(&not_empty);
		pthread_mutex_unlock(&qlock);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	long sum = 0;
	(void)arg;
	for (int i = 0; i < ITEMS; i++) {
		pthread_mutex_lock(&qlock);
		while (qlen == 0)
			pthread_cond_wait(&not_empty, &qlock);
		sum += queue[qhead];
		qhead = (qhead + 1) % QSIZE;
		qlen--;
		pthread_cond_signal(&not_full);
		pthread_mutex_unlock(&qlock);
	}
	return (void *)sum;
}

static void *exit_whole_process(void *arg)
{
	(void)arg;
	exit(3); /* exit_group: the main thread, blocked in pause, dies too */
}

static void *segfault(void *arg)
{
	int *volatile bad = (int *)8;
	(void)arg;
	*bad = 1;
	return NULL;
}

static volatile pid_t handler_tid;
static void on_usr1(int sig)
{
	(void)sig;
	handler_tid = gettid();
}

static pthread_barrier_t barrier;
static volatile pid_t waiter_tid;
static void *wait_for_usr1(void *arg)
{
	(void)arg;
	waiter_tid = gettid();
	pthread_barrier_wait(&barrier);
	while (!handler_tid)
		sched_yield();
	return NULL;
}

/* Runs fn in a thread of a child process; returns the child's wait status. */
static int in_child_thread(void *(*fn)(void *))
{
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t t;
		pthread_create(&t, NULL, fn, NULL);
		for (;;)
			pause();
	}
	int status;
	waitpid(pid, &status, 0);
	return status;
}

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

int main(void)
{
	main_pid = getpid();
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, adder, (void *)(intptr_t)i);
	int good = 0;
	for (int i = 0; i < NTHREADS; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		good += (intptr_t)ret == i + 1;
	}
	printf("%d threads x %d locked increments: counter %ld\n", NTHREADS, ROUNDS, counter);
	printf("threads with the process's pid, their own tid and TLS: %d of %d\n", good, NTHREADS);

	pthread_t p, c;
	void *sum;
	pthread_create(&c, NULL, consumer, NULL);
	pthread_create(&p, NULL, producer, NULL);
	pthread_join(p, NULL);
	pthread_join(c, &sum);
	printf("condition variables: %d items through a %d-slot queue, sum %ld\n", ITEMS, QSIZE, (long)sum);

	int st = in_child_thread(exit_whole_process);
	printf("exit(3) in a thread: the process %s %d\n", WIFEXITED(st) ? "exited with" : "was killed by",
	       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	st = in_child_thread(segfault);
	printf("SIGSEGV in a thread: the process %s %d\n", WIFEXITED(st) ? "exited with" : "was killed by",
	       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));

	signal(SIGUSR1, on_usr1);
	pthread_barrier_init(&barrier, NULL, 2);
	pthread_t w;
	pthread_create(&w, NULL, wait_for_usr1, NULL);
	pthread_barrier_wait(&barrier);
	printf("tgkill(SIGUSR1)=%ld\n", syscall(SYS_tgkill, getpid(), waiter_tid, SIGUSR1));
	pthread_join(w, NULL);
	printf("the handler ran in the target thread: %s\n", handler_tid == waiter_tid ? "yes" : "no");
	errno = 0;
	printf("tgkill to a thread of another process: %ld errno %d (ESRCH)\n",
	       syscall(SYS_tgkill, getpid() + 100000, waiter_tid, 0), errno);

	static uint32_t word = 1;
	struct timespec ts = {0, 20 * 1000 * 1000};
	errno = 0;
	printf("FUTEX_WAIT on a changed value: %ld errno %d (EAGAIN)\n", futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL), errno);
	errno = 0;
	printf("FUTEX_WAIT with a 20 ms timeout: %ld errno %d (ETIMEDOUT)\n", futex(&word, FUTEX_WAIT_PRIVATE, 1, &ts), errno);
	errno = 0;
	printf("FUTEX_WAIT misaligned: %ld errno %d (EINVAL)\n",
	       futex((uint32_t *)((char *)&word + 1), FUTEX_WAIT_PRIVATE, 1, NULL), errno);
	errno = 0;
	printf("FUTEX_WAIT on a bad pointer: %ld errno %d (EFAULT)\n", futex((uint32_t *)16, FUTEX_WAIT, 1, NULL), errno);
	errno = 0;
	printf("FUTEX_WAKE with nobody waiting: %ld\n", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL));
	errno = 0;
	printf("an unknown futex op: %ld errno %d (ENOSYS)\n", futex(&word, 99, 1, NULL), errno);
	return 0;
}
