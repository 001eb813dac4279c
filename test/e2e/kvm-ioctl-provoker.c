// Test-only program: issues the KVM ioctls the `qemu` probe set watches
// (KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_RUN) and, when the host lets a vCPU
// run, guest OUTs to ports 0xf4 and 0x80 — so test/e2e/probes.test.ts can check
// those probes on a machine where no real guest runs under KVM. The e2e test
// compiles it as "qemu-system-kvm-provoker" because the qemu set recognises
// QEMU by its process name.
//
// Guest code (16-bit real mode at 0x1000): mov al,1; out 0xf4,al;
// mov al,0x40; out 0x80,al; hlt.
// Exit status: 0 when the guest reached hlt, 2 when KVM_RUN failed (the
// ioctls were still issued), 1 when /dev/kvm or KVM_CREATE_VM failed.
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
  static const unsigned char code[] = {0xb0, 0x01, 0xe6, 0xf4, 0xb0, 0x40, 0xe6, 0x80, 0xf4};
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) { perror("open /dev/kvm"); return 1; }
  int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
  if (vm < 0) { perror("KVM_CREATE_VM"); return 1; }
  unsigned char *mem = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) { perror("mmap"); return 1; }
  memcpy(mem + 0x1000, code, sizeof code);
  struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = 0x4000,
                                               .userspace_addr = (unsigned long)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) perror("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
  if (vcpu < 0) { perror("KVM_CREATE_VCPU"); return 2; }
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = run_size > 0 ? mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0) : MAP_FAILED;
  if (run == MAP_FAILED) { perror("mmap kvm_run"); return 2; }
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) == 0) {
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    ioctl(vcpu, KVM_SET_SREGS, &sregs);
  }
  struct kvm_regs regs = {.rip = 0x1000, .rflags = 0x2};
  ioctl(vcpu, KVM_SET_REGS, &regs);
  for (int i = 0; i < 16; i++) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) { perror("KVM_RUN"); return 2; }
    if (run->exit_reason == KVM_EXIT_HLT) { printf("guest halted\n"); return 0; }
    if (run->exit_reason == KVM_EXIT_IO) {
      unsigned char value = *((unsigned char *)run + run->io.data_offset);
      printf("guest out 0x%x = 0x%x\n", run->io.port, value);
      continue;
    }
    fprintf(stderr, "unexpected exit reason %u\n", run->exit_reason);
    return 2;
  }
  return 2;
}
