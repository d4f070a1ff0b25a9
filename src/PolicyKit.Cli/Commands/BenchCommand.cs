using System.CommandLine;
using System.Text.Json;
using PolicyKit.Diffusion.Generation;

namespace PolicyKit.Cli.Commands;

/// <summary>
/// <c>policykit bench</c>: every policy on the same prompts in one process, interleaved sample by sample so
/// machine noise hits all policies alike, with <c>none</c> as the baseline. Prompts are random token ids of a
/// fixed length, so this measures speed, FLOPs and agreement with the uncached answers.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var policies = new Option<string>("--policies") { Description = "Comma-separated policies; none is always run as the baseline.", DefaultValueFactory = _ => "none,prompt-cache,dllm-cache,fast-dllm-dual" };
        var promptLength = new Option<int>("--prompt-length") { Description = "Prompt tokens (random ids).", DefaultValueFactory = _ => 512 };
        var genLength = new Option<int>("--gen-length") { Description = "Tokens to generate.", DefaultValueFactory = _ => 64 };
        var steps = new Option<int>("--steps") { Description = "Denoising steps.", DefaultValueFactory = _ => 64 };
        var blockLength = new Option<int>("--block-length") { Description = "Block length.", DefaultValueFactory = _ => 64 };
        var samples = new Option<int>("--samples") { Description = "Prompts per policy.", DefaultValueFactory = _ => 3 };
        var seed = new Option<int>("--seed") { Description = "Seed of the random prompts.", DefaultValueFactory = _ => 0 };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results as JSON to this file." };

        var command = new Command("bench", "Run policies side by side on the same prompts: time, speedup, FLOPs, agreement with none.")
        {
            model, policies, promptLength, genLength, steps, blockLength, samples, seed, device, json,
        };
        command.SetAction((parse, ct) => CliErrors.Guard(() =>
        {
            var names = parse.GetValue(policies)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            names.Remove("none");
            names.Insert(0, "none");
            var cachePolicies = names.Select(Policies.Create).ToArray();
            int n = parse.GetValue(samples);
            if (n < 1) throw new ArgumentException("--samples: must be at least 1.");

            using var loaded = ModelLocator.Load(parse.GetValue(model), parse.GetValue(device)!);
            var generator = new TextGenerator(loaded);
            var options = generator.DefaultOptions(parse.GetValue(genLength), parse.GetValue(steps), parse.GetValue(blockLength));
            options.Validate();
            var prompts = RandomPrompts(loaded.Config.VocabSize, loaded.Tokenizer.VocabularySize, parse.GetValue(promptLength), n, parse.GetValue(seed));

            // Warm-up: the first forward pays for lazy initialisation in LibTorch.
            generator.GenerateIds([prompts[0]], options with { GenLength = options.BlockLength, Steps = options.Steps / options.BlockCount }, null, ct);

            var runs = names.ToDictionary(x => x, _ => new List<GenerationResult>());
            for (int i = 0; i < n; i++)
                for (int p = 0; p < names.Count; p++)
                {
                    Console.Error.Write($"\rbench: sample {i + 1}/{n}, {names[p],-18}");
                    runs[names[p]].Add(generator.GenerateIds([prompts[i]], options, cachePolicies[p], ct)[0]);
                }
            Console.Error.WriteLine();

            var baseline = runs["none"];
            var rows = names.Select(name =>
            {
                var r = runs[name];
                double seconds = r.Sum(x => x.Elapsed.TotalSeconds);
                return new
                {
                    policy = name,
                    samples = n,
                    agreement = r.Zip(baseline, (a, b) => a.TokenIds.SequenceEqual(b.TokenIds) ? 1.0 : 0.0).Average(),
                    msPerSample = seconds * 1000 / n,
                    tokensPerSecond = n * options.GenLength / seconds,
                    speedup = baseline.Sum(x => x.Elapsed.TotalSeconds) / seconds,
                    flopsReduction = r.Sum(x => x.Flops.Full) / r.Sum(x => x.Flops.Executed),
                    recomputeFraction = r.Average(x => x.RecomputeFraction),
                };
            }).ToList();

            Console.WriteLine($"model {loaded.Config.Layout} d{loaded.Config.HiddenSize} x{loaded.Config.NumLayers}, prompt {parse.GetValue(promptLength)}, " +
                              $"gen {options.GenLength}, steps {options.Steps}, block {options.BlockLength}, {n} samples, {loaded.Device.type}");
            Console.WriteLine($"{"policy",-18} {"ms/sample",10} {"tok/s",8} {"speedup",8} {"FLOPs red.",10} {"ratio",6} {"recompute",9} {"agree",6}");
            foreach (var r in rows)
                Console.WriteLine($"{r.policy,-18} {r.msPerSample,10:F0} {r.tokensPerSecond,8:F1} {r.speedup,7:F2}x {r.flopsReduction,9:F2}x " +
                                  $"{r.speedup / r.flopsReduction,6:F2} {r.recomputeFraction,9:P1} {r.agreement,6:P0}");
            if (parse.GetValue(json) is { } file)
                File.WriteAllText(file.FullName, JsonSerializer.Serialize(new { results = rows }, new JsonSerializerOptions { WriteIndented = true }));
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>Random ordinary-token ids (below the tokenizer's special tokens), one prompt per sample.</summary>
    private static int[][] RandomPrompts(int vocab, int tokenizerVocab, int length, int count, int seed)
    {
        if (length < 1) throw new ArgumentException("--prompt-length: must be at least 1.");
        var rng = new Random(seed);
        int top = Math.Min(vocab, tokenizerVocab) - 16;
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, length).Select(_ => rng.Next(0, top)).ToArray()).ToArray();
    }
}
