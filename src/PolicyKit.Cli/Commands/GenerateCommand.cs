using System.CommandLine;
using System.Text.Json;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Profiling;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Cli.Commands;

/// <summary><c>policykit generate</c>: one prompt through the sampler, with a short cost report.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var sampler = new SamplerOptionSet();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var profile = ProfileReport.Option();

        var command = new Command("generate", "Generate an answer to a prompt and report steps, time and FLOPs.") { model };
        foreach (var option in sampler.All) command.Options.Add(option);
        command.Options.Add(device);
        command.Options.Add(json);
        command.Options.Add(profile);
        command.SetAction((parse, _) => CliErrors.Guard(ct =>
        {
            var cachePolicy = Policies.Create(parse.GetValue(sampler.Policy)!);
            using var loaded = ModelLocator.Load(parse.GetValue(model), parse.GetValue(device)!);
            var profiler = ProfileReport.Requested(parse, profile) ? new ForwardProfiler() : null;
            var generator = new TextGenerator(loaded) { Profiler = profiler };
            var options = sampler.Build(parse, generator);

            var result = generator.Generate(parse.GetValue(sampler.Prompt)!, options, cachePolicy, ct);
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(ToJson(result), JsonDefaults.Options));
            else PrintReport(result, options);
            // One cold generation: the first forwards also pay for LibTorch's lazy initialisation (bench warms up first).
            if (profiler is not null) ProfileReport.Emit(parse, profile, [new ProfileEntry(result.Policy, "prompt", profiler)]);
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
