/* aotsnn thread pool: TVM's parallel-loop entry points for host artifacts (POSIX threads).
 *
 * TVM's LLVM code runs a `parallel` loop by calling through the global function pointer
 * `__TVMBackendParallelLaunch(lambda, closure, num_task)`; the lambda computes chunk `task_id`
 * of `num_task`. TVM's own runtime fills that pointer in when it loads a module; tvm_ffi does
 * not, so this file provides the implementation and aotsnn_run installs it.
 *
 * Chunks are claimed, not assigned: the launching thread and every worker take the next
 * unclaimed chunk (an atomic counter) until none is left, and the launch ends when every chunk
 * is done. So a worker that the OS has not scheduled (a loaded machine: other processes on the
 * cores) leaves its chunks to the others instead of making everyone wait for it, and a run is
 * never much slower than with one thread. Workers spin for a short while after each launch (a
 * parallel loop is usually followed by another within microseconds), yielding the CPU as they
 * spin, and then sleep on a condition variable, so an idle artifact costs no CPU. A launch from
 * a second thread while the pool is busy runs serially on the caller (two sessions in two
 * threads never wait on each other or share a chunk). Chunks are disjoint and each computes the
 * same values in the same order as a serial run, so the result does not depend on the number of
 * threads nor on which thread ran which chunk.
 *
 * A second thread does not always pay. Splitting a loop moves half of its arrays into the other
 * core's cache, where the next, serial kernel must fetch them, and on a machine whose CPUs are
 * busy or slow to wake a worker, the launches wait: on this project's 2-CPU machine a 262,144-
 * neuron population ran at 2,260 steps/s alone and 1,000 on two threads (per-loop timings could
 * not see it: each split loop was faster, the step slower). So the driver brackets every run with
 * aotsnn_pool_run_begin/end, and whole runs are timed per step: the first TRIAL_RUNS after
 * loading (or a new thread count) alternate between the pool and one thread, starting with the
 * pool; then the faster way is used, timed again every RETRIAL_EVERY runs. Either way every
 * chunk computes the same values.
 *
 * The pool starts on the first parallel launch with aotsnn_threads() workers (set by
 * aotsnn_set_threads, else the environment variable AOTSNN_NUM_THREADS, else the CPUs this
 * process may run on), is reset in a forked child, and is stopped before the library is
 * unloaded. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

#define MAX_THREADS 64
#define TRIAL_RUNS 4            /* runs timed after loading: pool, alone, pool, alone */
#define RETRIAL_EVERY 64        /* then the trial again this often */
#define SPIN_ROUNDS 20000       /* pauses before a worker sleeps (tens of microseconds) */
#define YIELD_EVERY 256         /* spinning threads give the CPU away this often */

typedef struct { void *sync_handle; int32_t num_task; } TVMParallelGroupEnv;
typedef int32_t (*FTVMParallelLambda)(int task_id, TVMParallelGroupEnv *penv, void *cdata);

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;   /* held by the launching thread */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_t workers[MAX_THREADS];
static int n_workers = 0;            /* started workers (threads - 1) */
static int wanted_threads = 0;       /* 0: not decided yet */
static atomic_uint generation;       /* bumped once per launch */
/* The claims of the current launch in one word, so a claim and the launch it belongs to are
   read together: launch number (bits 32-63) | chunks of the launch (16-31) | next unclaimed
   chunk (0-15). Between launches the chunk count is 0, so every claim fails. */
static _Atomic uint64_t claims;
static atomic_int done_tasks;        /* chunks of the current launch that have finished */
static atomic_int stopping;
static atomic_int failed;
static FTVMParallelLambda job;
static void *job_data;
static TVMParallelGroupEnv job_env;

static int available_cpus(void) {
#ifdef CPU_COUNT
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
  return 1;
}

int aotsnn_threads(void) {
  if (wanted_threads == 0) {
    const char *env = getenv("AOTSNN_NUM_THREADS");
    int n = env != NULL ? atoi(env) : 0;
    wanted_threads = n > 0 ? n : available_cpus();
    if (wanted_threads > MAX_THREADS) wanted_threads = MAX_THREADS;
  }
  return wanted_threads;
}

static unsigned generation_at_start;   /* what new workers have seen: set before they are created */

/* Run unclaimed chunks of the current launch until none is left. A claim is valid when its
   chunk is below the count in the same word; the launcher publishes the job before the word
   (release) and the claim reads it (acquire), and the launch cannot end before a validly claimed
   chunk is done, so the job read after a valid claim is the launch's own. */
static void run_chunks(void) {
  for (;;) {
    const uint64_t claim = atomic_fetch_add_explicit(&claims, 1, memory_order_acq_rel);
    const unsigned task = (unsigned)(claim & 0xffffu), tasks = (unsigned)((claim >> 16) & 0xffffu);
    if (task >= tasks) return;
    if (job((int)task, &job_env, job_data) != 0) atomic_store(&failed, 1);
    atomic_fetch_add_explicit(&done_tasks, 1, memory_order_release);
  }
}

static void *worker_main(void *arg) {
  (void)arg;
  unsigned seen = generation_at_start;
  for (;;) {
    unsigned now;
    long spins = 0;
    while ((now = atomic_load_explicit(&generation, memory_order_acquire)) == seen && !atomic_load(&stopping)) {
      if (++spins < SPIN_ROUNDS) {
        if (spins % YIELD_EVERY == 0) sched_yield(); else CPU_RELAX();
        continue;
      }
      pthread_mutex_lock(&sleep_lock);
      while (atomic_load(&generation) == seen && !atomic_load(&stopping)) pthread_cond_wait(&wake, &sleep_lock);
      pthread_mutex_unlock(&sleep_lock);
    }
    if (atomic_load(&stopping)) return NULL;
    seen = now;
    run_chunks();
  }
}

static void stop_workers(void) {
  atomic_store(&stopping, 1);
  pthread_mutex_lock(&sleep_lock);
  pthread_cond_broadcast(&wake);
  pthread_mutex_unlock(&sleep_lock);
  for (int i = 0; i < n_workers; ++i) pthread_join(workers[i], NULL);
  n_workers = 0;
  atomic_store(&stopping, 0);
}

static void forget_workers_in_child(void) {      /* a forked child has none of the threads */
  n_workers = 0;
  pthread_mutex_init(&pool_lock, NULL);
  pthread_mutex_init(&sleep_lock, NULL);
  pthread_cond_init(&wake, NULL);
}

static void start_workers(void) {
  static int atfork_done = 0;
  if (!atfork_done) { pthread_atfork(NULL, NULL, forget_workers_in_child); atfork_done = 1; }
  int want = aotsnn_threads() - 1;
  generation_at_start = atomic_load(&generation);   /* a worker starting late must not skip the next launch */
  while (n_workers < want) {
    if (pthread_create(&workers[n_workers], NULL, worker_main, (void *)(intptr_t)(n_workers + 1)) != 0) break;
    ++n_workers;
  }
}

/* Run-level choice: seconds per step of the runs alone (0) and on the pool (1). */
static atomic_int run_on_pool_mode = 1;
static double run_start, seconds_per_step[2];
static unsigned runs;

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void aotsnn_set_threads(int n) {
  pthread_mutex_lock(&pool_lock);
  stop_workers();
  wanted_threads = n > MAX_THREADS ? MAX_THREADS : (n < 1 ? 1 : n);
  runs = 0;                                  /* the timings were of the other count */
  pthread_mutex_unlock(&pool_lock);
}

void aotsnn_pool_run_begin(void) {
  const unsigned k = runs % RETRIAL_EVERY;
  int pool;
  if (aotsnn_threads() <= 1) pool = 0;
  else if (k < TRIAL_RUNS) pool = (k % 2) == 0;
  else pool = seconds_per_step[1] < seconds_per_step[0];
  atomic_store(&run_on_pool_mode, pool);
  run_start = now_seconds();
}

void aotsnn_pool_run_end(int64_t steps) {
  if (steps <= 0) return;
  const unsigned k = runs % RETRIAL_EVERY;
  const int pool = atomic_load(&run_on_pool_mode);
  const double per_step = (now_seconds() - run_start) / (double)steps;
  if (k < TRIAL_RUNS && (k < 2 || per_step < seconds_per_step[pool])) seconds_per_step[pool] = per_step;
  ++runs;
}

int32_t aotsnn_parallel_launch(FTVMParallelLambda flambda, void *cdata, int32_t num_task) {
  if (!atomic_load(&run_on_pool_mode) || pthread_mutex_trylock(&pool_lock) != 0) {   /* alone, or the pool is busy */
    TVMParallelGroupEnv alone = {NULL, 1};
    return flambda(0, &alone, cdata);
  }
  start_workers();
  int tasks = n_workers + 1;
  if (num_task > 0 && num_task < tasks) tasks = num_task;
  int32_t rc = 0;
  if (tasks == 1) {
    TVMParallelGroupEnv alone = {NULL, 1};
    rc = flambda(0, &alone, cdata);
  } else {
    job = flambda; job_data = cdata; job_env.sync_handle = NULL; job_env.num_task = tasks;
    atomic_store(&failed, 0);
    atomic_store_explicit(&done_tasks, 0, memory_order_relaxed);
    const unsigned launch = atomic_load_explicit(&generation, memory_order_relaxed) + 1u;   /* only we bump it */
    atomic_store_explicit(&claims, ((uint64_t)launch << 32) | ((uint64_t)tasks << 16), memory_order_release);
    atomic_store_explicit(&generation, launch, memory_order_release);   /* wakes the workers */
    pthread_mutex_lock(&sleep_lock);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&sleep_lock);
    run_chunks();                                                   /* the launcher works too */
    long spins = 0;
    while (atomic_load_explicit(&done_tasks, memory_order_acquire) != tasks) {
      if (++spins % YIELD_EVERY == 0) sched_yield(); else CPU_RELAX();    /* a chunk another thread claimed */
    }
    atomic_store_explicit(&claims, (uint64_t)launch << 32, memory_order_relaxed);   /* 0 chunks: late claims fail */
    if (atomic_load(&failed)) rc = -1;
  }
  pthread_mutex_unlock(&pool_lock);
  return rc;
}

int32_t aotsnn_parallel_barrier(int task_id, TVMParallelGroupEnv *penv) {
  (void)task_id; (void)penv;
  return -1;       /* aotsnn's kernels have no barrier inside a parallel loop */
}

__attribute__((destructor)) static void stop_pool_on_unload(void) {
  pthread_mutex_lock(&pool_lock);
  stop_workers();
  pthread_mutex_unlock(&pool_lock);
}
