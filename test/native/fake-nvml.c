/*
 * fake-nvml.c: a stand-in for libnvidia-ml.so.1, for inferwatt's tests and benches.
 *
 * It implements the few NVML entry points inferwatt's nvml sensor uses, with the signatures and
 * return codes of NVIDIA's nvml.h (nvmlReturn_t: SUCCESS 0, UNINITIALIZED 1, INVALID_ARGUMENT 2,
 * NOT_SUPPORTED 3, NO_PERMISSION 4, NOT_FOUND 6, GPU_IS_LOST 15, UNKNOWN 999). Written from the
 * public API reference; no NVIDIA code is copied.
 *
 * Build:  gcc -shared -fPIC -O2 -o libnvidia-ml.so.1 fake-nvml.c            (a Volta+ driver)
 *         gcc -shared -fPIC -O2 -DNO_ENERGY -o libnvidia-ml.so.1 fake-nvml.c (an old driver: no
 *         nvmlDeviceGetTotalEnergyConsumption symbol at all)
 *
 * Control: the environment variable FAKE_NVML_CONFIG names a text file of `key=value` lines
 * (`#` starts a comment). It is re-read whenever its inode, mtime or size changes (checked at every
 * call), so a test rewrites it (best: a new file renamed over the old one) to change what the
 * "driver" reports mid-run. Keys:
 *
 *   epoch=N                    changing it resets all per-device state (call counts, accumulated energy)
 *   count=N                    number of GPUs (default 1, at most 64)
 *   driver=STR                 nvmlSystemGetDriverVersion
 *   init_rc=N                  return code of nvmlInit_v2 (e.g. 9 DRIVER_NOT_LOADED)
 *   init_hang_ms=N             nvmlInit_v2 sleeps N ms first (a wedged driver)
 *   count_rc=N                 return code of nvmlDeviceGetCount_v2
 *   gpuI.name=STR  gpuI.uuid=STR
 *   gpuI.power_mw=N            nvmlDeviceGetPowerUsage
 *   gpuI.limit_mw=N            nvmlDeviceGetEnforcedPowerLimit
 *   gpuI.util_gpu=N gpuI.util_mem=N   nvmlDeviceGetUtilizationRates
 *   gpuI.energy_mj=N           base of the energy counter (mJ)
 *   gpuI.energy_step_mj=N      added to the counter at every nvmlDeviceGetTotalEnergyConsumption call
 *   gpuI.energy_per_ms=X       mJ added per ms of CLOCK_MONOTONIC since the epoch began (i.e. watts)
 *   gpuI.reset=N               changing it zeroes the accumulated energy: with energy_mj lowered too,
 *                              the counter goes down as after a driver reload or GPU reset
 *   gpuI.lost=1                every call on this device returns GPU_IS_LOST (15)
 *   gpuI.hang_ms=N             energy, power and utilization calls sleep N ms first (a wedged driver)
 *   gpuI.mig=1                 nvmlDeviceGetMigMode reports MIG enabled
 *   gpuI.rc.FUNCTION=N         FUNCTION (e.g. nvmlDeviceGetPowerUsage) returns N for this device
 *
 * The counter reported is energy_mj + accumulated, where accumulated grows by energy_step_mj per call
 * and energy_per_ms × elapsed ms.
 *
 * Test hooks (not NVML): fake_nvml_init_calls(), fake_nvml_initialized() (inits not yet shut down),
 * fake_nvml_shutdown_calls(), fake_nvml_energy_calls(),
 * fake_nvml_power_calls() (successful power calls, counted when they return).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#define API __attribute__((visibility("default")))
#define MAX_GPUS 64
#define MAX_RC 16

typedef int nvmlReturn_t;
typedef struct fake_dev *nvmlDevice_t;
typedef struct { unsigned int gpu; unsigned int memory; } nvmlUtilization_t;

enum {
  NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3, NVML_ERROR_NO_PERMISSION = 4, NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7, NVML_ERROR_GPU_IS_LOST = 15, NVML_ERROR_UNKNOWN = 999,
};

struct rc_override { char fn[64]; int rc; };

struct fake_dev {
  int index;
  char name[96];
  char uuid[96];
  unsigned int power_mw, limit_mw, util_gpu, util_mem;
  int has_power, has_limit, has_util;
  unsigned long long energy_mj, energy_step_mj;
  double energy_per_ms;
  long reset_gen, seen_reset_gen;
  int lost, mig;
  unsigned hang_ms;
  struct rc_override rcs[MAX_RC];
  int n_rcs;
  /* state kept across config reloads */
  double acc_mj;
  double last_ms;
};

static struct fake_dev devs[MAX_GPUS];
static int dev_count = 1;
static char driver_version[80] = "550.54.15";
static int init_rc = NVML_SUCCESS, count_rc = NVML_SUCCESS;
static unsigned init_hang_ms = 0;
static long epoch = -1;
static int initialized = 0;
static long init_calls = 0, shutdown_calls = 0, energy_calls = 0, power_calls = 0;
static time_t cfg_mtime_s = 0;
static long cfg_mtime_ns = -1;
static off_t cfg_size = -1;
static ino_t cfg_ino = 0;

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void reset_state(void) {
  double now = mono_ms();
  for (int i = 0; i < MAX_GPUS; i++) {
    devs[i].acc_mj = 0;
    devs[i].last_ms = now;
    devs[i].seen_reset_gen = devs[i].reset_gen;
  }
}

static void defaults(void) {
  dev_count = 1;
  strcpy(driver_version, "550.54.15");
  init_rc = count_rc = NVML_SUCCESS;
  init_hang_ms = 0;
  for (int i = 0; i < MAX_GPUS; i++) {
    struct fake_dev *d = &devs[i];
    d->index = i;
    snprintf(d->name, sizeof d->name, "Fake GPU %d", i);
    snprintf(d->uuid, sizeof d->uuid, "GPU-00000000-0000-0000-0000-%012d", i);
    d->power_mw = 100000; d->limit_mw = 400000; d->util_gpu = 0; d->util_mem = 0;
    d->has_power = d->has_limit = d->has_util = 1;
    d->energy_mj = 0; d->energy_step_mj = 0; d->energy_per_ms = 0;
    d->reset_gen = 0; d->lost = 0; d->mig = 0; d->hang_ms = 0; d->n_rcs = 0;
  }
}

static void trim(char *s) {
  char *e = s + strlen(s);
  while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
}

/* NVML is thread-safe (nvml.h); so is the fake: koffi's async calls run on worker threads. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void load_config_locked(void) {
  const char *path = getenv("FAKE_NVML_CONFIG");
  struct stat st;
  if (!path || stat(path, &st) != 0) {
    if (cfg_size != -2) { defaults(); cfg_size = -2; if (epoch != 0) { epoch = 0; reset_state(); } }
    return;
  }
  /* The inode too: a test that renames a new file into place within one coarse mtime tick is still seen. */
  if (st.st_ino == cfg_ino && st.st_mtim.tv_sec == cfg_mtime_s && st.st_mtim.tv_nsec == cfg_mtime_ns && st.st_size == cfg_size) return;
  FILE *f = fopen(path, "r");
  if (!f) return;
  cfg_ino = st.st_ino; cfg_mtime_s = st.st_mtim.tv_sec; cfg_mtime_ns = st.st_mtim.tv_nsec; cfg_size = st.st_size;
  defaults();
  long new_epoch = 0;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    trim(line);
    char *eq = strchr(line, '=');
    if (!eq) continue;
    *eq = 0;
    char *key = line, *val = eq + 1;
    if (!strcmp(key, "epoch")) new_epoch = atol(val);
    else if (!strcmp(key, "count")) { dev_count = atoi(val); if (dev_count > MAX_GPUS) dev_count = MAX_GPUS; if (dev_count < 0) dev_count = 0; }
    else if (!strcmp(key, "driver")) snprintf(driver_version, sizeof driver_version, "%s", val);
    else if (!strcmp(key, "init_rc")) init_rc = atoi(val);
    else if (!strcmp(key, "init_hang_ms")) init_hang_ms = (unsigned)strtoul(val, 0, 10);
    else if (!strcmp(key, "count_rc")) count_rc = atoi(val);
    else if (!strncmp(key, "gpu", 3)) {
      char *dot;
      int i = (int)strtol(key + 3, &dot, 10);
      if (*dot != '.' || i < 0 || i >= MAX_GPUS) continue;
      struct fake_dev *d = &devs[i];
      char *k = dot + 1;
      if (!strcmp(k, "name")) snprintf(d->name, sizeof d->name, "%s", val);
      else if (!strcmp(k, "uuid")) snprintf(d->uuid, sizeof d->uuid, "%s", val);
      else if (!strcmp(k, "power_mw")) d->power_mw = (unsigned)strtoul(val, 0, 10);
      else if (!strcmp(k, "limit_mw")) d->limit_mw = (unsigned)strtoul(val, 0, 10);
      else if (!strcmp(k, "util_gpu")) d->util_gpu = (unsigned)strtoul(val, 0, 10);
      else if (!strcmp(k, "util_mem")) d->util_mem = (unsigned)strtoul(val, 0, 10);
      else if (!strcmp(k, "energy_mj")) d->energy_mj = strtoull(val, 0, 10);
      else if (!strcmp(k, "energy_step_mj")) d->energy_step_mj = strtoull(val, 0, 10);
      else if (!strcmp(k, "energy_per_ms")) d->energy_per_ms = strtod(val, 0);
      else if (!strcmp(k, "reset")) d->reset_gen = atol(val);
      else if (!strcmp(k, "lost")) d->lost = atoi(val);
      else if (!strcmp(k, "mig")) d->mig = atoi(val);
      else if (!strcmp(k, "hang_ms")) d->hang_ms = (unsigned)strtoul(val, 0, 10);
      else if (!strncmp(k, "rc.", 3) && d->n_rcs < MAX_RC) {
        snprintf(d->rcs[d->n_rcs].fn, sizeof d->rcs[0].fn, "%s", k + 3);
        d->rcs[d->n_rcs].rc = atoi(val);
        d->n_rcs++;
      }
    }
  }
  fclose(f);
  if (new_epoch != epoch) { epoch = new_epoch; reset_state(); }
  for (int i = 0; i < MAX_GPUS; i++) {
    if (devs[i].reset_gen != devs[i].seen_reset_gen) { devs[i].acc_mj = 0; devs[i].seen_reset_gen = devs[i].reset_gen; }
  }
}

static void load_config(void) {
  pthread_mutex_lock(&lock);
  load_config_locked();
  pthread_mutex_unlock(&lock);
}

/* Common prologue of every device call: config, initialisation, handle, lost flag, forced codes. */
static nvmlReturn_t check_dev(nvmlDevice_t d, const char *fn) {
  load_config();
  if (!initialized) return NVML_ERROR_UNINITIALIZED;
  if (d < devs || d >= devs + dev_count) return NVML_ERROR_INVALID_ARGUMENT;
  if (d->lost) return NVML_ERROR_GPU_IS_LOST;
  for (int i = 0; i < d->n_rcs; i++) if (!strcmp(d->rcs[i].fn, fn)) return d->rcs[i].rc;
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlInit_v2(void) {
  load_config();
  if (init_hang_ms) usleep(init_hang_ms * 1000u);
  pthread_mutex_lock(&lock);
  nvmlReturn_t rc = init_rc;
  init_calls++;
  if (rc == NVML_SUCCESS) initialized++; /* NVML counts initialisations; each needs an nvmlShutdown */
  pthread_mutex_unlock(&lock);
  return rc;
}

API nvmlReturn_t nvmlShutdown(void) {
  pthread_mutex_lock(&lock);
  nvmlReturn_t rc = NVML_SUCCESS;
  shutdown_calls++;
  if (!initialized) rc = NVML_ERROR_UNINITIALIZED;
  else initialized--;
  pthread_mutex_unlock(&lock);
  return rc;
}

API const char *nvmlErrorString(nvmlReturn_t rc) {
  switch (rc) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case 9: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
  }
}

API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  load_config();
  if (!initialized) return NVML_ERROR_UNINITIALIZED;
  if (!version) return NVML_ERROR_INVALID_ARGUMENT;
  if (strlen(driver_version) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  strcpy(version, driver_version);
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
  load_config();
  if (!initialized) return NVML_ERROR_UNINITIALIZED;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  if (count_rc != NVML_SUCCESS) return count_rc;
  *count = (unsigned)dev_count;
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  load_config();
  if (!initialized) return NVML_ERROR_UNINITIALIZED;
  if (!device || index >= (unsigned)dev_count) return NVML_ERROR_INVALID_ARGUMENT;
  /* NVML hands out handles of lost GPUs too; calls on them fail. */
  *device = &devs[index];
  return NVML_SUCCESS;
}

static nvmlReturn_t copy_str(char *dst, unsigned int length, const char *src) {
  if (!dst) return NVML_ERROR_INVALID_ARGUMENT;
  if (strlen(src) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  strcpy(dst, src);
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
  nvmlReturn_t rc = check_dev(d, "nvmlDeviceGetName");
  return rc ? rc : copy_str(name, length, d->name);
}

API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length) {
  nvmlReturn_t rc = check_dev(d, "nvmlDeviceGetUUID");
  return rc ? rc : copy_str(uuid, length, d->uuid);
}

#ifndef NO_ENERGY
API nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *energy) {
  nvmlReturn_t rc = check_dev(d, "nvmlDeviceGetTotalEnergyConsumption");
  if (rc) return rc;
  if (d->hang_ms) usleep(d->hang_ms * 1000u);
  if (!energy) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&lock);
  energy_calls++;
  double now = mono_ms();
  d->acc_mj += (double)d->energy_step_mj + d->energy_per_ms * (now - d->last_ms);
  d->last_ms = now;
  *energy = d->energy_mj + (unsigned long long)d->acc_mj;
  pthread_mutex_unlock(&lock);
  return NVML_SUCCESS;
}
#endif

API nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *power) {
  nvmlReturn_t rc = check_dev(d, "nvmlDeviceGetPowerUsage");
  if (rc) return rc;
  if (d->hang_ms) usleep(d->hang_ms * 1000u);
  if (!power) return NVML_ERROR_INVALID_ARGUMENT;
  *power = d->power_mw;
  pthread_mutex_lock(&lock);
  power_calls++;
  pthread_mutex_unlock(&lock);
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *limit) {
  nvmlReturn_t rc = check_dev(d, "nvmlDeviceGetEnforcedPowerLimit");
  if (rc) return rc;
  if (!limit) return NVML_ERROR_INVALID_ARGUMENT;
  *limit = d->limit_mw;
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
  nvmlReturn_t rc = check_dev(d, "nvmlDeviceGetUtilizationRates");
  if (rc) return rc;
  if (d->hang_ms) usleep(d->hang_ms * 1000u);
  if (!u) return NVML_ERROR_INVALID_ARGUMENT;
  u->gpu = d->util_gpu;
  u->memory = d->util_mem;
  return NVML_SUCCESS;
}

/* NVML_DEVICE_MIG_ENABLE is 1, NVML_DEVICE_MIG_DISABLE 0 (nvml.h). */
API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
  nvmlReturn_t rc = check_dev(d, "nvmlDeviceGetMigMode");
  if (rc) return rc;
  if (!current || !pending) return NVML_ERROR_INVALID_ARGUMENT;
  *current = *pending = d->mig ? 1 : 0;
  return NVML_SUCCESS;
}

API long fake_nvml_init_calls(void) { return init_calls; }
API long fake_nvml_initialized(void) { return initialized; }
API long fake_nvml_shutdown_calls(void) { return shutdown_calls; }
API long fake_nvml_energy_calls(void) { return energy_calls; }
API long fake_nvml_power_calls(void) { return power_calls; }
