using System.Runtime.InteropServices;

namespace PolicyKit.Diffusion.Runtime;

/// <summary>
/// Tunes glibc's allocator, which LibTorch's CPU tensors come from, for a process that generates repeatedly.
/// </summary>
/// <remarks>
/// By default glibc hands freed memory at the top of its heap back to the kernel. A cache session frees its
/// per-layer caches (hundreds of MB at batch 64) when the generation ends, so the next one takes them back as fresh
/// pages, and every first touch is a page fault: measured on the shipped model, a dllm-cache retrieval batch of 64
/// ran 11-15 s with 440,000-910,000 minor faults, and 6.8-7.6 s with about 500 once the heap was warm. Keeping freed
/// memory in the process removes that cost; the price is that the process does not shrink after its peak.
/// It holds for the main thread's heap only: glibc's per-thread arenas unmap a heap once it empties, whatever the
/// settings, which is why the CLI generates on its main thread.
/// This is process-wide, so it is the application's choice (the CLI makes it), not something the library does.
/// </remarks>
public static partial class NativeHeap
{
    private const int TrimThreshold = -1;  // M_TRIM_THRESHOLD
    private const int MmapThreshold = -3;  // M_MMAP_THRESHOLD

    /// <summary>Largest value glibc accepts for M_MMAP_THRESHOLD on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX).</summary>
    private const int MaxMmapThreshold = 32 * 1024 * 1024;

    /// <summary>
    /// Keeps freed memory in the process: no trimming of the heap top, and blocks up to 32 MB served from the heap
    /// rather than from fresh mappings. Returns false (and changes nothing) where the C library is not glibc.
    /// </summary>
    public static bool RetainFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return mallopt(TrimThreshold, int.MaxValue) == 1 && mallopt(MmapThreshold, MaxMmapThreshold) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;  // not glibc (musl has no tunable heap)
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int parameter, int value);
}
