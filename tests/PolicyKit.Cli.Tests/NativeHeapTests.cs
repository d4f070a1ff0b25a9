using PolicyKit.Diffusion.Runtime;

namespace PolicyKit.Cli.Tests;

/// <summary>
/// The CLI keeps freed native memory (<see cref="NativeHeap"/>). Tested here, not beside the soak test, because the
/// setting is process-wide and this assembly does its generation work in child processes. What it saves is measured
/// by <c>policykit bench</c>, not here: page-fault counts depend on which thread allocates (glibc arenas).
/// </summary>
public class NativeHeapTests
{
    [Fact]
    public void Glibc_accepts_the_settings()  // Linux with glibc, as CI and the README's machines
    {
        Assert.True(NativeHeap.RetainFreedMemory(), "mallopt was not found or refused a setting");
    }
}
