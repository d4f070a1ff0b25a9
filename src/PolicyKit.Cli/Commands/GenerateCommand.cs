using System.CommandLine;
using System.Text.Json;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Cli.Commands;

/// <summary><c>policykit generate</c>: one prompt through the sampler, with a short cost report.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var prompt = new Option<string>("--prompt") { Description = "The prompt text.", DefaultValueFactory = _ => MainJob.SamplePrompt };
        var genLength = new Option<int>("--gen-length") { Description = "Tokens to generate.", DefaultValueFactory = _ => 32 };
        var steps = new Option<int>("--steps") { Description = "Denoising steps (spread evenly over blocks).", DefaultValueFactory = _ => 32 };
        var blockLength = new Option<int>("--block-length") { Description = "Semi-autoregressive block length (LLaDA models).", DefaultValueFactory = _ => 32 };
        var temperature = new Option<double>("--temperature") { Description = "Gumbel-max sampling temperature; 0 = greedy.", DefaultValueFactory = _ => 0.0 };
        var threshold = new Option<double?>("--threshold") { Description = "Fast-dLLM parallel decoding: commit every masked token above this confidence (0, 1]." };
        var cfg = new Option<double>("--cfg") { Description = "Classifier-free guidance scale; 0 = off.", DefaultValueFactory = _ => 0.0 };
        var remasking = new Option<ConfidenceKind?>("--remasking") { Description = "Commit order: Probability (low-confidence), Random, Margin, NegativeEntropy. Default: the model family's." };
        var confidencePrecision = new Option<ConfidencePrecision>("--confidence-precision")
        {
            Description = "Precision of commit confidences: Model (the logits' dtype, as LLaDA's generate.py) or Float64.",
            DefaultValueFactory = _ => ConfidencePrecision.Model,
        };
        var seed = new Option<long>("--seed") { Description = "Random seed (sampling noise).", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var policy = new Option<string>("--policy") { Description = "Cache policy (see `policykit policies`).", DefaultValueFactory = _ => Policies.Default };

        var command = new Command("generate", "Generate an answer to a prompt and report steps, time and FLOPs.")
        {
            model, prompt, policy, genLength, steps, blockLength, temperature, threshold, cfg, remasking, confidencePrecision, seed, device, json,
        };
        command.SetAction((parse, _) => CliErrors.Guard(ct =>
        {
            var cachePolicy = Policies.Create(parse.GetValue(policy)!);
            using var loaded = ModelLocator.Load(parse.GetValue(model), parse.GetValue(device)!);
            var generator = new TextGenerator(loaded);
            var options = generator.DefaultOptions(parse.GetValue(genLength), parse.GetValue(steps), parse.GetValue(blockLength)) with
            {
                Temperature = parse.GetValue(temperature),
                CfgScale = parse.GetValue(cfg),
                Seed = parse.GetValue(seed),
                ConfidencePrecision = parse.GetValue(confidencePrecision),
            };
            if (parse.GetValue(threshold) is double p) options = options with { Schedule = TransferSchedule.Threshold, Threshold = p };
            if (parse.GetValue(remasking) is ConfidenceKind kind) options = options with { Confidence = kind };

            var result = generator.Generate(parse.GetValue(prompt)!, options, cachePolicy, ct);
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(ToJson(result), JsonDefaults.Options));
            else PrintReport(result, options);
            return Task.FromResult(0);
        }));
        return command;
    }

    public static object ToJson(GenerationResult r) => new
    {
        text = r.Text,
        tokenIds = r.TokenIds,
        policy = r.Policy,
        steps = r.Steps,
        elapsedMs = Math.Round(r.Elapsed.TotalMilliseconds, 1),
        flops = new { executed = r.Flops.Executed, full = r.Flops.Full },
        recomputeFraction = Math.Round(r.RecomputeFraction, 4),
    };

    private static void PrintReport(GenerationResult r, SamplerOptions o)
    {
        Console.WriteLine(r.Text);
        Console.WriteLine();
        Console.WriteLine(Report.CostLine(r, o.GenLength));
    }
}
