using System.Text.Json;

namespace PolicyKit.Cli.Tests;

/// <summary><c>policykit tune</c> and <c>--profile</c> end to end on a tiny random model (FLOPs, never wall time).</summary>
public class TuneCommandTests
{
    [Fact]
    public void Tune_by_flops_chooses_a_setting_within_budget_no_slower_than_the_defaults_and_prints_a_snippet()
    {
        var dir = TempDirectory("pk-tune-");
        try
        {
            var model = Path.Combine(dir, "model");
            var made = CliProcess.Run("new-model", "--layout", "llada", "--out", model, "--layers", "2", "--hidden", "32", "--heads", "4", "--seed", "5");
            Assert.True(made.ExitCode == 0, made.Stderr);
            var data = Path.Combine(dir, "samples.jsonl");
            File.WriteAllLines(data, ["{\"prompt\": \"one two three\", \"answer\": \"four\"}"]);
            var json = Path.Combine(dir, "tune.json");
            var chart = Path.Combine(dir, "tune.svg");

            var run = CliProcess.Run("tune", "--model", model, "--policy", "dllm-cache", "--data", data, "--gen-length", "4", "--block-length", "4",
                "--objective", "flops", "--budget", "1", "--json", json, "--chart", chart);
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Contains("tune: coarse ResponseRefresh.Every", run.Stderr);  // progress on stderr
            Assert.Contains("\"Policies\"", run.Stdout);
            Assert.Contains("<svg", File.ReadAllText(chart));

            using var result = JsonDocument.Parse(File.ReadAllText(json));
            var root = result.RootElement;
            var best = root.GetProperty("best");
            var defaults = root.GetProperty("defaults");
            Assert.True(best.GetProperty("withinBudget").GetBoolean());
            Assert.True(best.GetProperty("accuracy").GetDouble() >= root.GetProperty("noneAccuracy").GetDouble() - 0.01);
            Assert.True(best.GetProperty("flopsReduction").GetDouble() >= defaults.GetProperty("flopsReduction").GetDouble());
            Assert.Equal(4, best.GetProperty("setting").EnumerateObject().Count());
            Assert.True(root.GetProperty("evaluated").GetArrayLength() > 6);  // coarse grids of four parameters, then refinements
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Tune_refuses_a_policy_without_parameters()
    {
        var run = CliProcess.Run("tune", "--policy", "fast-dllm-dual", "--tasks", "retrieval");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no overridable parameters", run.Stderr);
    }

    [Fact]
    public void Generate_profile_accounts_for_every_step_and_layer_and_writes_json()
    {
        var dir = TempDirectory("pk-profile-");
        try
        {
            var model = Path.Combine(dir, "model");
            Assert.Equal(0, CliProcess.Run("new-model", "--layout", "llada", "--out", model, "--layers", "2", "--hidden", "32", "--heads", "4", "--seed", "5").ExitCode);
            var file = Path.Combine(dir, "profile.json");
            var run = CliProcess.Run("generate", "--model", model, "--prompt", "hello there", "--gen-length", "8", "--steps", "8",
                "--block-length", "4", "--policy", "dllm-cache", "--profile", file);
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Contains("per layer", run.Stdout);

            using var json = JsonDocument.Parse(File.ReadAllText(file));
            var profile = json.RootElement.GetProperty("profiles")[0];
            Assert.Equal(8, profile.GetProperty("steps").GetInt32());
            int layers = profile.GetProperty("perLayer").EnumerateObject().Sum(kind => kind.Value.GetProperty("count").GetInt32());
            Assert.Equal(8 * 2, layers);
            Assert.True(profile.GetProperty("perLayer").GetProperty("partial").GetProperty("calls").GetDouble() > 0);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static string TempDirectory(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
