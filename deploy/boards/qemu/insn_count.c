/*
 * insn_count.c: a QEMU TCG plugin that counts the guest instructions executed between two
 * marker addresses (the first instructions of fw_bench_begin and fw_bench_end of the firmware).
 *
 *   qemu-system-arm ... -plugin libinsn_count.so,begin=0x1234,end=0x1240,out=/path/counts.txt
 *
 * Every executed instruction adds 1 to a counter (an inline TCG op, exact even when a translation
 * block is left early); the instruction at `begin` records the counter, the one at `end` writes
 * the difference as one line to `out` (flushed at once, so the line is there however QEMU exits).
 * The count runs from the first instruction of fw_bench_begin up to, not including, the first
 * instruction of fw_bench_end; the firmware runs an empty pair first so that the markers' own
 * instructions can be subtracted. One vCPU (Cortex-M machines): the counter needs no atomics.
 *
 * profile=PATH (optional) also counts, per translation block executed inside the region, its
 * instructions; at each fw_bench_end it writes "interval K" and one "pc insns executions" line per
 * block that ran, then starts over (the driver maps pc to functions with the symbol table).
 *
 * Built against qemu-plugin.h of the same QEMU version (QEMU_PLUGIN_VERSION is checked at load).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static uint64_t executed;
static uint64_t at_begin;
static int in_region;
static uint64_t begin_addr = UINT64_MAX;
static uint64_t end_addr = UINT64_MAX;
static FILE *out;
static FILE *profile;
static unsigned intervals;

struct block {
    uint64_t pc;
    uint64_t insns;
    uint64_t executions;
};
static struct block **blocks;
static size_t num_blocks, cap_blocks;

static void on_block(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (in_region) {
        ((struct block *)udata)->executions++;
    }
}

static void dump_profile(void)
{
    size_t i;
    fprintf(profile, "interval %u\n", intervals);
    for (i = 0; i < num_blocks; ++i) {
        if (blocks[i]->executions != 0) {
            fprintf(profile, "0x%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", blocks[i]->pc, blocks[i]->insns,
                    blocks[i]->executions);
            blocks[i]->executions = 0;
        }
    }
    fflush(profile);
}

/* A block record for the profile (one per translation; a block translated twice has two). */
static struct block *new_block(uint64_t pc, uint64_t insns)
{
    struct block *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return NULL;
    }
    if (num_blocks == cap_blocks) {
        size_t cap = cap_blocks ? 2 * cap_blocks : 1024;
        struct block **grown = realloc(blocks, cap * sizeof *grown);
        if (grown == NULL) {
            free(b);
            return NULL;
        }
        blocks = grown;
        cap_blocks = cap;
    }
    b->pc = pc;
    b->insns = insns;
    blocks[num_blocks++] = b;
    return b;
}

static void on_begin(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    at_begin = executed;
    in_region = 1;
}

static void on_end(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (in_region) {
        fprintf(out, "%" PRIu64 "\n", executed - at_begin);
        fflush(out);
        in_region = 0;
        if (profile != NULL) {
            dump_profile();
        }
        intervals++;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    if (profile != NULL) {
        struct block *b = new_block(qemu_plugin_tb_vaddr(tb), n);
        if (b != NULL) {
            qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
        }
    }
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* The marker callbacks come first: they see the count before this instruction's add. */
        if (pc == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (pc == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void plugin_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    if (out != NULL && out != stderr) {
        fclose(out);
        out = NULL;
    }
    if (profile != NULL) {
        fclose(profile);
        profile = NULL;
    }
}

static int parse_addr(const char *value, uint64_t *addr)
{
    char *end = NULL;
    *addr = strtoull(value, &end, 0);
    return end != value && *end == '\0';
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    const char *path = NULL, *profile_path = NULL;
    (void)info;
    for (i = 0; i < argc; ++i) {
        const char *arg = argv[i];
        if (strncmp(arg, "begin=", 6) == 0 && parse_addr(arg + 6, &begin_addr)) {
            continue;
        }
        if (strncmp(arg, "end=", 4) == 0 && parse_addr(arg + 4, &end_addr)) {
            continue;
        }
        if (strncmp(arg, "out=", 4) == 0) {
            path = arg + 4;
            continue;
        }
        if (strncmp(arg, "profile=", 8) == 0) {
            profile_path = arg + 8;
            continue;
        }
        fprintf(stderr, "insn_count: bad argument '%s' (expected begin=ADDR, end=ADDR, out=PATH, profile=PATH)\n",
                arg);
        return -1;
    }
    if (begin_addr == UINT64_MAX || end_addr == UINT64_MAX || begin_addr == end_addr) {
        fprintf(stderr, "insn_count: needs two distinct marker addresses begin=ADDR,end=ADDR\n");
        return -1;
    }
    begin_addr &= ~(uint64_t)1; /* Thumb function symbols have bit 0 set */
    end_addr &= ~(uint64_t)1;
    out = path != NULL ? fopen(path, "w") : stderr;
    if (out == NULL) {
        fprintf(stderr, "insn_count: cannot open '%s'\n", path);
        return -1;
    }
    if (profile_path != NULL && (profile = fopen(profile_path, "w")) == NULL) {
        fprintf(stderr, "insn_count: cannot open '%s'\n", profile_path);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
