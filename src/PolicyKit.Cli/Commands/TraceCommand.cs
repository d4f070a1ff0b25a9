using System.CommandLine;
using System.Text.Json;
using PolicyKit.Diffusion.Generation;

namespace PolicyKit.Cli.Commands;

/// <summary>
/// <c>policykit trace</c>: one generation under a policy, shown step by step and layer by layer as the share of
/// rows recomputed and reused, so a policy author sees a rule at work (text grid, JSON or an SVG heat map).
/// </summary>
internal static class TraceCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var sampler = new SamplerOptionSet();
        var json = new Option<bool>("--json") { Description = "Print the trace as one JSON object instead of the text grid." };
        var svg = new Option<FileInfo?>("--svg") { Description = "Also write the trace as an SVG heat map to this file." };

        var command = new Command("trace", "Show what a cache policy did in one generation: per step and layer, the share of rows recomputed and reused.") { model };
        foreach (var option in sampler.All) command.Options.Add(option);
        command.Options.Add(device);
        command.Options.Add(json);
        command.Options.Add(svg);
        command.SetAction((parse, _) => CliErrors.Guard(ct =>
        {
            var policy = Policies.Create(parse.GetValue(sampler.Policy)!);
            var svgFile = parse.GetValue(svg);
            if (svgFile is { Directory: { Exists: false } missing })
                throw new ArgumentException($"--svg: directory not found: {missing.FullName}");

            var modelDirectory = parse.GetValue(model)?.FullName ?? ModelLocator.DefaultModelDirectory();
            using var loaded = ModelLocator.Load(new DirectoryInfo(modelDirectory), parse.GetValue(device)!);
            var generator = new TextGenerator(loaded);
            var options = sampler.Build(parse, generator);
            var trace = PolicyTrace.Record(generator, Path.GetFileName(Path.TrimEndingDirectorySeparator(modelDirectory)),
                parse.GetValue(sampler.Prompt)!, options, policy, ct);

            if (svgFile is not null) File.WriteAllText(svgFile.FullName, TraceReport.HeatMap(trace));
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(TraceReport.Json(trace), JsonDefaults.Options));
            else Console.Write(TraceReport.Text(trace));
            return Task.FromResult(0);
        }));
        return command;
    }
}
