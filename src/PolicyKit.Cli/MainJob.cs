using PolicyKit.Diffusion.Generation;

namespace PolicyKit.Cli;

/// <summary>What <c>policykit</c> does with no arguments: answer a sample prompt on the default model.</summary>
internal static class MainJob
{
    public const string SamplePrompt = "Reverse the list: 3 1 4 1 5 9 2 6 =";

    public static Task<int> RunAsync(CancellationToken cancellationToken)
    {
        using var model = ModelLocator.Load(null, "cpu");
        var generator = new TextGenerator(model);
        var options = generator.DefaultOptions(genLength: 32, steps: 32, blockLength: 32);
        Console.WriteLine($"prompt: {SamplePrompt}");
        var result = generator.Generate(SamplePrompt, options, null, cancellationToken);
        Console.WriteLine($"answer: {result.Text}");
        Console.WriteLine($"{result.Steps} steps, {options.GenLength} tokens, {result.Elapsed.TotalMilliseconds:F0} ms, " +
                          $"{result.Flops.Executed / 1e9:F2} GFLOP executed of {result.Flops.Full / 1e9:F2} full");
        return Task.FromResult(0);
    }
}
