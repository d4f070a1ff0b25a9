using PolicyKit.Diffusion.Generation;

namespace PolicyKit.Cli;

/// <summary>
/// What <c>policykit</c> does with no arguments: answer a sample prompt on the default model without a cache
/// and with <c>dllm-cache</c>, and show both answers with their cost.
/// </summary>
internal static class MainJob
{
    public const string SamplePrompt = "Reverse the list: 3 1 4 1 5 9 2 6 =";

    public static Task<int> RunAsync(CancellationToken cancellationToken)
    {
        using var model = ModelLocator.Load(null, "cpu");
        var generator = new TextGenerator(model);
        var options = generator.DefaultOptions(genLength: 32, steps: 32, blockLength: 32);
        Console.WriteLine($"prompt: {SamplePrompt}");
        foreach (var name in new[] { "none", Policies.Default })
        {
            var result = generator.Generate(SamplePrompt, options, Policies.Create(name), cancellationToken);
            Console.WriteLine($"answer ({name}): {result.Text}");
            Console.WriteLine("  " + Report.CostLine(result, options.GenLength));
        }
        return Task.FromResult(0);
    }
}
