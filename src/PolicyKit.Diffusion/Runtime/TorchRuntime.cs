using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Runtime;

/// <summary>
/// Loads TorchSharp's native runtime once, with a one-line explanation when it cannot, and turns the
/// user's device choice (<c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>, <c>auto</c>) into a <see cref="Device"/>.
/// </summary>
public static class TorchRuntime
{
    /// <summary>The symbol LibTorch 2.10 (TorchSharp 0.107) needs from libstdc++; Debian 12 ships only up to 3.4.30.</summary>
    public const string RequiredGlibcxx = "GLIBCXX_3.4.32";

    /// <summary>The one line printed when the system libstdc++ is too old.</summary>
    public const string LibStdCxxHint =
        "TorchSharp needs libstdc++ with " + RequiredGlibcxx + " (GCC 13+); on Debian 12 run: bash .ci/install-libstdcxx.sh";

    private static readonly string[] LibStdCxxPaths =
    [
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
    ];

    private static readonly object Gate = new();
    private static volatile bool _loaded;

    /// <summary>
    /// Initialises TorchSharp's CPU backend. Throws <see cref="TorchRuntimeException"/> with one clear line
    /// when the native libraries cannot be loaded (most often: libstdc++ lacks <see cref="RequiredGlibcxx"/>).
    /// </summary>
    public static void EnsureLoaded()
    {
        if (_loaded) return;
        lock (Gate)
        {
            if (_loaded) return;
            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
            }
            catch (Exception e)
            {
                throw Explain(e, LibStdCxxPaths);
            }
            _loaded = true;
        }
    }

    /// <summary>
    /// Resolves <c>cpu</c> | <c>cuda</c> | <c>cuda:N</c> | <c>auto</c> (case-insensitive). <c>auto</c> picks CUDA when
    /// it is usable and the CPU otherwise; asking for CUDA where it is absent is an error, not a silent fallback.
    /// </summary>
    public static Device ResolveDevice(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        EnsureLoaded();
        var s = spec.Trim().ToLowerInvariant();
        if (s == "cpu") return torch.CPU;
        if (s == "auto") return CudaAvailable() ? torch.CUDA : torch.CPU;
        if (s == "cuda" || s.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!CudaAvailable())
                throw new TorchRuntimeException(
                    $"device '{spec}' requested but CUDA is not available (no GPU/driver found, or this build bundles the CPU-only " +
                    "TorchSharp runtime: build with -p:TorchSharpRuntime=cuda-linux); use --device cpu or auto");
            if (s == "cuda") return torch.CUDA;
            if (!int.TryParse(s.AsSpan(5), out var index) || index < 0)
                throw new TorchRuntimeException($"device '{spec}': expected cuda:N with N a GPU index");
            var count = torch.cuda.device_count();
            if (index >= count)
                throw new TorchRuntimeException($"device '{spec}': only {count} CUDA device(s) present");
            return torch.device(DeviceType.CUDA, index);
        }
        throw new TorchRuntimeException($"unknown device '{spec}' (expected cpu, cuda, cuda:N or auto)");
    }

    private static bool CudaAvailable()
    {
        try { return torch.cuda.is_available(); }
        catch (Exception) { return false; } // the CPU runtime has no CUDA backend to ask
    }

    /// <summary>Builds the exception for a failed native load; separated from <see cref="EnsureLoaded"/> so it can be tested.</summary>
    internal static TorchRuntimeException Explain(Exception failure, IEnumerable<string> libStdCxxCandidates)
    {
        if (MentionsGlibcxx(failure) || (OperatingSystem.IsLinux() && LibStdCxxLacksRequiredSymbol(libStdCxxCandidates)))
            return new TorchRuntimeException(LibStdCxxHint, failure);
        return new TorchRuntimeException($"TorchSharp's native runtime could not be loaded: {FirstLine(Innermost(failure).Message)}", failure);
    }

    /// <summary>
    /// True when a libstdc++ exists among the candidates and none of them carries <see cref="RequiredGlibcxx"/>.
    /// False when no candidate exists (then the cause is something else and is reported as such).
    /// </summary>
    internal static bool LibStdCxxLacksRequiredSymbol(IEnumerable<string> candidates)
    {
        var needle = System.Text.Encoding.ASCII.GetBytes(RequiredGlibcxx);
        var found = false;
        foreach (var path in candidates)
        {
            if (!File.Exists(path)) continue;
            found = true;
            try
            {
                if (File.ReadAllBytes(path).AsSpan().IndexOf(needle) >= 0) return false;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    private static bool MentionsGlibcxx(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x.Message.Contains("GLIBCXX", StringComparison.Ordinal)) return true;
        return false;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    private static string FirstLine(string s)
    {
        var i = s.IndexOfAny(['\r', '\n']);
        return i < 0 ? s : s[..i];
    }
}
