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
    [InlineData("bad threshold", "generate", "--threshold", "1.5")]
    [InlineData("no load clients", "load", "--concurrency", "0")]
    [InlineData("unknown load policy", "load", "--policy", "nope")]
    [InlineData("unknown load task", "load", "--task", "nope")]
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
        foreach (var name in new[] { "none", "always-refresh", "prompt-cache", "dllm-cache", "fast-dllm-prefix", "fast-dllm-dual", "depth-hybrid", "dkv-cache", "vicinity", "dpad", "elastic-cache", "d2cache" })
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
        foreach (var command in new[] { "generate", "new-model", "policies", "bench", "train", "serve" })
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
    public void Train_ar_then_resume_as_diffusion_on_a_dream_model_and_print_the_scores()
    {
        var dir = TempDirectory("pk-train-ar-");
        Directory.Delete(dir);
        try
        {
            var llada = CliProcess.Run("train", "--out", dir, "--objective", "ar", "--steps", "1", "--layers", "1", "--hidden", "32", "--heads", "4");
            Assert.NotEqual(0, llada.ExitCode);
            Assert.Contains("--layout dream", llada.Stderr);
            Assert.False(Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any(), "a refused run writes nothing");

            var ar = CliProcess.Run("train", "--out", dir, "--objective", "ar", "--layout", "dream", "--steps", "2", "--layers", "1", "--hidden", "32",
                "--heads", "4", "--mlp", "48", "--tasks", "needle,running-sum", "--eval-every", "2", "--eval-samples", "2");
            Assert.True(ar.ExitCode == 0, ar.Stderr);
            Assert.Matches(@"step 2 .*ar, 2 test samples: needle \d+\.\d% \(\d+%\)  running-sum \d+\.\d% \(\d+%\)", ar.Stdout);
            using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))))
                Assert.Equal("DreamModel", config.RootElement.GetProperty("architectures")[0].GetString());

            var diffusion = CliProcess.Run("train", "--out", dir, "--resume", "--objective", "diffusion", "--steps", "3", "--tasks", "needle",
                "--eval-every", "3", "--eval-samples", "2");
            Assert.True(diffusion.ExitCode == 0, diffusion.Stderr);
            Assert.Contains("step 2: switching from the ar objective to diffusion", diffusion.Stdout);
            Assert.Matches(@"step 3 .*diffusion, 2 test samples: needle \d+\.\d%", diffusion.Stdout);
            var state = File.ReadAllText(Path.Combine(dir, "trainer_state.json"));
            Assert.Contains("\"Step\":3", state);
            Assert.Contains("\"Objective\":\"Diffusion\"", state);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
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

    [Fact]
    public void A_block_length_that_does_not_divide_the_gen_length_is_refused_in_one_line_for_a_llada_model()
    {
        // Blocks are LLaDA's: a Dream-layout model (the shipped default) decodes its gen length as one block.
        var run = CliProcess.Run("generate", "--model", CliProcess.TransformModel, "--gen-length", "10", "--block-length", "4");
        Assert.True(run.ExitCode != 0, "refused");
        var line = Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("policykit: ", line);
        Assert.Contains("block", line, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void With_no_arguments_it_answers_a_needle_prompt_on_the_shipped_model_with_and_without_a_cache()
    {
        var run = CliProcess.Run();
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = run.Stdout.Split('\n');
        Assert.EndsWith(Path.Combine("models", "policykit-dream"), lines.Single(l => l.StartsWith("model:")).Trim());
        Assert.StartsWith("task:     needle", lines.Single(l => l.StartsWith("task:")));
        var expected = lines.Single(l => l.StartsWith("expected:"))["expected:".Length..].Trim();
        Assert.Matches("^[0-9]{4}$", expected);
        // No cache is the exact path: the shipped model answers it (models/README.md). dllm-cache is approximate,
        // so only its line is checked.
        Assert.Matches($@"^none:\s+{expected} right\s+\d+ ms, [0-9.]+ of [0-9.]+ GFLOP \(1\.00x fewer\)", lines.Single(l => l.StartsWith("none:")));
        Assert.Matches(@"^dllm-cache:\s+\S* ?(right|wrong)\s+\d+ ms, [0-9.]+ of [0-9.]+ GFLOP \([0-9.]+x fewer\)", lines.Single(l => l.StartsWith("dllm-cache:")));
    }

    [Fact]
    public async Task Serve_answers_an_OpenAI_request_on_the_transform_model_and_stops_on_ctrl_c()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "PolicyKit.Cli.dll");
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "serve", "--model", CliProcess.TransformModel, "--urls", "http://127.0.0.1:0", "--policy", "none", "--threshold", "0.9" })
            info.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            // The line that says where it listens, once the model is loaded.
            string? line;
            do line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2));
            while (line is not null && !line.StartsWith("policykit serve: ", StringComparison.Ordinal));
            if (line is null) Assert.Fail("serve ended before listening: " + await stderr);
            var url = System.Text.RegularExpressions.Regex.Match(line!, @"http://127\.0\.0\.1:\d+").Value;
            var stdout = process.StandardOutput.ReadToEndAsync();

            var sample = PolicyKit.Tasks.TaskSuite.TestSet(new PolicyKit.Tasks.TransformTask(), 1)[0];
            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(2) };
            var body = JsonSerializer.Serialize(new { model = "policykit-ref", messages = new[] { new { role = "user", content = sample.Prompt } } });
            using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(sample.Answer, answer.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());

            using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", process.Id.ToString()])) kill.WaitForExit();
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "still serving 60 s after Ctrl+C");
            Assert.Equal(0, process.ExitCode);
            await stdout;
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void Serve_with_an_unknown_policy_fails_in_one_line()
    {
        var run = CliProcess.Run("serve", "--policy", "nope", "--urls", "http://127.0.0.1:0");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--policy", run.Stderr);
        Assert.DoesNotContain("   at ", run.Stderr);
    }

    [Fact]
    public void Bench_data_reports_every_bad_line_by_its_number()
    {
        var dir = TempDirectory("pk-data-");
        try
        {
            var file = Path.Combine(dir, "mine.jsonl");
            File.WriteAllLines(file,
            [
                """{"prompt": "aBbC=", "answer": "bCaB"}""",
                """{"prompt": "aBbC=", "answer": """,
                """{"prompt": 5, "answer": "x"}""",
                "",
                """{"prompt": "aB="}""",
                """["prompt", "answer"]""",
            ]);
            var run = CliProcess.Run("bench", "--data", file, "--policies", "none");
            Assert.Equal(2, run.ExitCode);
            var line = Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("line 2: not valid JSON", line);
            Assert.Contains("line 3: \"prompt\" must be a string", line);
            Assert.Contains("line 5: \"answer\" is missing", line);
            Assert.Contains("line 6: expected a JSON object", line);
            Assert.DoesNotContain("line 1:", line);
            Assert.DoesNotContain("line 4:", line);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Bench_data_names_the_line_whose_answer_cannot_fit_the_gen_length()
    {
        var dir = TempDirectory("pk-data-");
        try
        {
            var file = Path.Combine(dir, "long.jsonl");
            File.WriteAllLines(file, ["""{"prompt": "aB=", "answer": "aB"}""", """{"prompt": "aB=", "answer": "0123456789"}"""]);
            var run = CliProcess.Run("bench", "--data", file, "--gen-length", "8", "--policies", "none");
            Assert.Equal(2, run.ExitCode);
            Assert.Contains("line 2: the answer is 10 tokens, longer than --gen-length 8", run.Stderr);
            Assert.DoesNotContain("line 1", run.Stderr);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Bench_data_scores_the_users_samples_by_exact_match_or_contains_on_the_transform_model()
    {
        var dir = TempDirectory("pk-data-");
        try
        {
            // Two transform prompts the transform model answers exactly: one with its whole answer, one with a part of it.
            var samples = PolicyKit.Tasks.TaskSuite.TestSet(new PolicyKit.Tasks.TransformTask(), 2);
            var file = Path.Combine(dir, "transform-mine.jsonl");
            File.WriteAllLines(file,
            [
                JsonSerializer.Serialize(new { prompt = samples[0].Prompt, answer = samples[0].Answer, note = "other fields are ignored" }),
                JsonSerializer.Serialize(new { prompt = samples[1].Prompt, answer = samples[1].Answer[4..12] }),
            ]);
            foreach (var (match, accuracy) in new[] { ("exact", 0.5), ("contains", 1.0) })
            {
                var json = Path.Combine(dir, $"{match}.json");
                // No cache (an exact path) with threshold decoding at 0.9: the answers are the ones the model gives alone.
                var run = CliProcess.Run("bench", "--model", CliProcess.TransformModel, "--data", file, "--match", match, "--gen-length", "32", "--block-length", "16",
                    "--policies", "none", "--threshold", "0.9", "--json", json);
                Assert.True(run.ExitCode == 0, run.Stderr);
                Assert.Contains("2 samples per task", run.Stdout);
                using var doc = JsonDocument.Parse(File.ReadAllText(json));
                var results = doc.RootElement.GetProperty("results").EnumerateArray().ToArray();
                Assert.All(results, r => Assert.Equal("transform-mine", r.GetProperty("task").GetString()));
                var thresholded = results.Single(r => r.GetProperty("policy").GetString() == "none+t0.9");
                Assert.Equal(accuracy, thresholded.GetProperty("accuracy").GetDouble());
                Assert.Equal(2, thresholded.GetProperty("samples").GetInt32());
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    private static string TempDirectory(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
