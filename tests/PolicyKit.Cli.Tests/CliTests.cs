using System.Text.Json;

namespace PolicyKit.Cli.Tests;

public class CliTests
{
    [Theory]
    [InlineData("llada", "none")]
    [InlineData("dream", "dllm-cache")]
    [InlineData("llada", "fast-dllm-dual")]
    public void New_model_then_generate_json_reports_text_ids_steps_time_and_flops(string layout, string policy)
    {
        var dir = Path.Combine(Path.GetTempPath(), "pk-cli-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var made = CliProcess.Run("new-model", "--layout", layout, "--out", dir, "--layers", "2", "--hidden", "32", "--heads", "4", "--seed", "5");
            Assert.True(made.ExitCode == 0, made.Stderr);
            Assert.True(File.Exists(Path.Combine(dir, "config.json")));

            var run = CliProcess.Run("generate", "--model", dir, "--prompt", "hello there", "--gen-length", "8", "--steps", "8",
                "--block-length", "4", "--policy", policy, "--json");
            Assert.True(run.ExitCode == 0, run.Stderr);
            using var json = JsonDocument.Parse(run.Stdout);
            var root = json.RootElement;
            Assert.Equal(JsonValueKind.String, root.GetProperty("text").ValueKind);
            Assert.Equal(8, root.GetProperty("tokenIds").GetArrayLength());
            Assert.Equal(8, root.GetProperty("steps").GetInt32());
            Assert.True(root.GetProperty("elapsedMs").GetDouble() > 0);
            Assert.Equal(policy, root.GetProperty("policy").GetString());
            double executed = root.GetProperty("flops").GetProperty("executed").GetDouble();
            double full = root.GetProperty("flops").GetProperty("full").GetDouble();
            Assert.True(executed > 0 && executed <= full);
            if (policy == "none") Assert.Equal(full, executed);
            else Assert.True(executed < full, $"{policy}: {executed} of {full}");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("missing directory", "generate", "--model", "/nonexistent/pk-model")]
    [InlineData("unknown policy", "generate", "--policy", "nope")]
    [InlineData("bad block length", "generate", "--gen-length", "10", "--block-length", "4")]
    [InlineData("bad threshold", "generate", "--threshold", "1.5")]
    public void Bad_input_exits_non_zero_with_one_line_and_no_stack_trace(string why, params string[] args)
    {
        var run = CliProcess.Run(args);
        Assert.True(run.ExitCode != 0, why);
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("policykit: no trained model")).ToArray();
        Assert.Single(lines);
        Assert.StartsWith("policykit: ", lines[0]);
        Assert.DoesNotContain("   at ", run.Stderr);
    }

    [Fact]
    public void Unreadable_config_names_the_file()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pk-cli-bad-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), "{ not json");
            var run = CliProcess.Run("generate", "--model", dir);
            Assert.Equal(2, run.ExitCode);
            Assert.Contains("config.json", run.Stderr);
            Assert.DoesNotContain("   at ", run.Stderr);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Unknown_options_are_rejected()
    {
        var run = CliProcess.Run("generate", "--no-such-option");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("--no-such-option", run.Stderr);
    }

    [Fact]
    public void Policies_lists_every_built_in_policy_with_its_parameters()
    {
        var run = CliProcess.Run("policies");
        Assert.Equal(0, run.ExitCode);
        foreach (var name in new[] { "none", "always-refresh", "prompt-cache", "dllm-cache", "fast-dllm-prefix", "fast-dllm-dual", "depth-hybrid" })
            Assert.Contains(name, run.Stdout);
        Assert.Contains("ResponseRefresh.Every = 7", run.Stdout);
    }

    [Fact]
    public async Task Ctrl_c_stops_a_generation_between_steps_with_one_line_and_exit_130()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "PolicyKit.Cli.dll");
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "generate", "--prompt", "x", "--gen-length", "512", "--steps", "512", "--block-length", "32", "--policy", "none" })
            info.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await Task.Delay(TimeSpan.FromSeconds(4));  // past start-up, inside the step loop (512 steps take far longer)
        Assert.False(process.HasExited, "the generation ended before it could be interrupted");
        using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", process.Id.ToString()])) kill.WaitForExit();
        // Generous: with the whole test suite running beside it, one step of LibTorch on two oversubscribed cores
        // can take seconds; a process that ignored Ctrl+C would still be far from its 512th step.
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "still running 60 s after Ctrl+C");
        Assert.Equal(130, process.ExitCode);
        Assert.Equal("policykit: cancelled.", (await stderr).Trim());
    }

    [Fact]
    public void Every_command_has_help()
    {
        foreach (var command in new[] { "generate", "new-model", "policies", "bench", "train" })
        {
            var run = CliProcess.Run(command, "--help");
            Assert.Equal(0, run.ExitCode);
            Assert.Contains("Usage:", run.Stdout);
        }
    }

    [Fact]
    public void Bench_in_batches_writes_json_with_none_as_the_baseline()
    {
        var dir = TempDirectory("pk-bench-");
        try
        {
            Assert.Equal(0, CliProcess.Run("new-model", "--layout", "llada", "--out", dir, "--layers", "2", "--hidden", "32", "--heads", "4").ExitCode);
            var json = Path.Combine(dir, "bench.json");
            var run = CliProcess.Run("bench", "--model", dir, "--prompt-length", "40", "--gen-length", "8", "--samples", "3", "--batch", "2",
                "--policies", "none,dllm-cache", "--json", json);
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Contains("batch 2", run.Stdout);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var results = doc.RootElement.GetProperty("results").EnumerateArray().ToArray();
            Assert.Equal(["none", "dllm-cache"], results.Select(r => r.GetProperty("policy").GetString()));
            Assert.All(results, r => Assert.Equal(3, r.GetProperty("samples").GetInt32()));  // batches of 2 and 1
            Assert.Equal(1.0, results[0].GetProperty("speedup").GetDouble());
            Assert.Equal(1.0, results[0].GetProperty("agreement").GetDouble());
            Assert.Equal(JsonValueKind.Null, results[0].GetProperty("accuracy").ValueKind);  // random prompts have no answers
            Assert.True(results[1].GetProperty("flopsReduction").GetDouble() > 1.5);
            Assert.True(results[1].GetProperty("recomputeFraction").GetDouble() < 1);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Train_writes_the_llada_layout_and_resume_continues_the_same_run()
    {
        var dir = TempDirectory("pk-train-");
        Directory.Delete(dir);
        try
        {
            var run = CliProcess.Run("train", "--out", dir, "--steps", "2", "--layers", "1", "--hidden", "32", "--heads", "4", "--mlp", "48",
                "--tasks", "retrieval", "--save-every", "1");
            Assert.True(run.ExitCode == 0, run.Stderr);
            using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))))
            {
                Assert.Equal(32, config.RootElement.GetProperty("d_model").GetInt32());
                Assert.Equal(48, config.RootElement.GetProperty("mlp_hidden_size").GetInt32());
            }
            Assert.Contains("\"Step\":2", File.ReadAllText(Path.Combine(dir, "trainer_state.json")));

            var again = CliProcess.Run("train", "--out", dir, "--steps", "2", "--layers", "1", "--hidden", "32", "--heads", "4");
            Assert.NotEqual(0, again.ExitCode);  // refuses to overwrite a run without --resume
            Assert.Contains("--resume", again.Stderr);

            var resumed = CliProcess.Run("train", "--out", dir, "--resume", "--steps", "3", "--tasks", "retrieval");
            Assert.True(resumed.ExitCode == 0, resumed.Stderr);
            Assert.Contains("\"Step\":3", File.ReadAllText(Path.Combine(dir, "trainer_state.json")));

            var generated = CliProcess.Run("generate", "--model", dir, "--prompt", "A=123;?A=", "--gen-length", "4", "--steps", "4", "--json");
            Assert.True(generated.ExitCode == 0, generated.Stderr);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Train_on_an_absent_gpu_fails_before_writing_anything()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pk-train-gpu-" + Guid.NewGuid().ToString("N")[..8]);
        // cuda:99 is absent both here (no CUDA) and on any real machine (fewer GPUs).
        var run = CliProcess.Run("train", "--out", dir, "--steps", "1", "--layers", "1", "--hidden", "32", "--heads", "4", "--device", "cuda:99");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("CUDA", run.Stderr);  // the runtime's message, not a parse error for an unknown option
        Assert.DoesNotContain("   at ", run.Stderr);
        Assert.False(Directory.Exists(dir), "a failed start left a half-written model directory");
    }

    private static string TempDirectory(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
