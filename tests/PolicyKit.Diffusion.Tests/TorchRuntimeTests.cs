using PolicyKit.Diffusion.Runtime;
using TorchSharp;

namespace PolicyKit.Diffusion.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void OldLibStdCxxGivesOneClearLine()
    {
        using var dir = new TempDir();
        var fake = dir.File("libstdc++.so.6");
        File.WriteAllText(fake, "GLIBCXX_3.4.29\0GLIBCXX_3.4.30\0");
        var failure = new TypeInitializationException("TorchSharp.torch", new NotSupportedException("could not load libLibTorchSharp"));
        var e = TorchRuntime.Explain(failure, [fake]);
        Assert.Equal(TorchRuntime.LibStdCxxHint, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("bash .ci/install-libstdcxx.sh", e.Message);
    }

    [Fact]
    public void LoaderMessageMentioningGlibcxxIsRecognised()
    {
        var failure = new DllNotFoundException("libtorch_cpu.so: version `GLIBCXX_3.4.32' not found");
        Assert.Equal(TorchRuntime.LibStdCxxHint, TorchRuntime.Explain(failure, []).Message);
    }

    [Fact]
    public void OtherLoadFailuresSayWhatFailed()
    {
        using var dir = new TempDir();
        var good = dir.File("libstdc++.so.6");
        File.WriteAllText(good, "GLIBCXX_3.4.32\0");
        var e = TorchRuntime.Explain(new DllNotFoundException("libtorch.so: cannot open shared object file\nmore"), [good]);
        Assert.Equal("TorchSharp's native runtime could not be loaded: libtorch.so: cannot open shared object file", e.Message);
    }

    [Fact]
    public void ResolvesDevices()
    {
        Assert.Equal(DeviceType.CPU, TorchRuntime.ResolveDevice("cpu").type);
        Assert.Equal(DeviceType.CPU, TorchRuntime.ResolveDevice(" CPU ").type);
        var auto = TorchRuntime.ResolveDevice("auto").type;
        Assert.Equal(torch.cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU, auto);
        Assert.Throws<TorchRuntimeException>(() => TorchRuntime.ResolveDevice("tpu"));
        if (!torch.cuda.is_available())
        {
            var e = Assert.Throws<TorchRuntimeException>(() => TorchRuntime.ResolveDevice("cuda"));
            Assert.Contains("CUDA is not available", e.Message);
        }
    }
}
