using System.Diagnostics;

namespace PolicyKit.Cli.Tests;

/// <summary>Runs the policykit CLI (built beside the tests) as a separate process, as a user would.</summary>
internal static class CliProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>
    /// models/policykit-ref: the first reference model, which answers transform prompts exactly (100 %), kept as the
    /// fixture of tests that assert whole answers through a command.
    /// </summary>
    public static string TransformModel { get; } = FindModel("policykit-ref");

    private static string FindModel(string name)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "models", name);
            if (File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
        }
        throw new InvalidOperationException($"models/{name} not found above {AppContext.BaseDirectory}");
    }

    public static Result Run(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "PolicyKit.Cli.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        // Keep the default random model out of the user's cache.
        info.Environment["XDG_CACHE_HOME"] = Path.Combine(Path.GetTempPath(), "policykit-cli-tests-cache");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"policykit {string.Join(' ', args)} did not finish in 3 minutes");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
