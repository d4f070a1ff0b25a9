using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Runtime;

namespace PolicyKit.Cli;

/// <summary>
/// Finds the model a command runs on: the <c>--model</c> directory, else the project's default model.
/// Until a trained model ships under <c>models/</c>, the default is a small random LLaDA-layout checkpoint
/// created once in the user's cache directory.
/// </summary>
internal static class ModelLocator
{
    /// <summary>Name of the shipped reference model's folder under <c>models/</c>.</summary>
    public const string ShippedModelName = "policykit-dream";

    /// <summary>Sizes of the random stand-in model: small enough to answer in a few seconds on 2 cores.</summary>
    public static readonly ModelSizes DefaultRandomSizes = new() { HiddenSize = 128, Layers = 4, Heads = 4 };

    public static DiffusionModel Load(DirectoryInfo? directory, string device)
    {
        TorchRuntime.EnsureLoaded();
        var dir = directory?.FullName ?? DefaultModelDirectory();
        if (!Directory.Exists(dir)) throw new ArgumentException($"model directory not found: {dir}");
        return DiffusionModel.Load(dir, device);
    }

    public static string DefaultModelDirectory()
    {
        if (Environment.GetEnvironmentVariable("POLICYKIT_MODEL") is { Length: > 0 } fromEnv) return fromEnv;
        if (FindShipped() is { } shipped) return shipped;
        return EnsureRandomDefault();
    }

    /// <summary>Looks for <c>models/policykit-dream</c> beside the tool or above the working directory.</summary>
    private static string? FindShipped()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, "models", ShippedModelName);
                if (File.Exists(Path.Combine(candidate, ModelConfig.FileName))) return candidate;
            }
        }
        return null;
    }

    private static string EnsureRandomDefault()
    {
        var cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        var dir = Path.Combine(cache, "policykit", "random-llada-v1");
        if (File.Exists(Path.Combine(dir, ModelConfig.FileName))) return dir;

        Console.Error.WriteLine($"policykit: no trained model found; creating a small random LLaDA-layout model in {dir}");
        // Written to a temporary sibling and renamed, so an interrupted run never leaves half a model behind.
        var temp = dir + ".tmp-" + Environment.ProcessId;
        RandomCheckpoint.Write(temp, Layout.LLaDA, DefaultRandomSizes, seed: 1);
        Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        try { Directory.Move(temp, dir); }
        catch (IOException) when (File.Exists(Path.Combine(dir, ModelConfig.FileName))) { Directory.Delete(temp, true); }
        return dir;
    }
}
