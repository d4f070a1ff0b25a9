using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Diffusion.Tests.Caching;
using PolicyKit.Generated;
using PolicyKit.Tasks;
using TorchSharp;

namespace PolicyKit.Diffusion.Tests.Generation;

/// <summary>
/// Rows of a batch are left-padded to one length; each must get what it gets alone. What that means depends on
/// the path: a batched matmul rounds differently from a solo one (and differently on another CPU), so on a random
/// model only the logits can be compared, to rounding; whole generations are compared on the shipped model, whose
/// predictions are confident enough that rounding cannot flip a token or a cache policy's row choice into another answer.
/// </summary>
public class BatchGenerationTests(ShippedModel shipped) : IClassFixture<ShippedModel>
{
    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void A_left_padded_batch_gives_each_row_its_solo_logits(Layout layout)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        var options = new SamplerOptions { GenLength = 4, Steps = 1, BlockLength = 4 };
        var vocab = model.Tokenizer.VocabularySize - 8;
        int[][] prompts = [.. new[] { 3, 11, 7 }.Select((n, i) => TestModels.RandomIds(40 + i, n, vocab).Select(x => (int)x).ToArray())];

        var batch = FirstLogits(model, options, prompts);
        int perRow = batch.Length / prompts.Length;
        for (int i = 0; i < prompts.Length; i++)
        {
            var solo = FirstLogits(model, options, [prompts[i]]);
            Assert.Equal(perRow, solo.Length);
            var diff = solo.Select((x, j) => Math.Abs(x - batch[i * perRow + j])).Max();
            Assert.True(diff <= 1e-4, $"row {i}: logits differ from its solo run by {diff}");
        }
    }

    /// <summary>Transform questions after 1, 2 and 3 shots: prompts of three lengths the shipped model answers.</summary>
    public static TheoryData<string> Policies => ["none", "dllm-cache", "fast-dllm-dual", "depth-hybrid"];

    [Theory]
    [MemberData(nameof(Policies))]
    public void A_batch_of_prompts_of_different_lengths_gives_each_prompt_its_solo_answer(string policyName)
    {
        var generator = new TextGenerator(shipped.Model);
        var samples = new[] { 1, 2, 3 }.Select(shots => new TransformTask(shots: shots).Sample(new Random(shots))).ToArray();
        var first = samples[0];
        var options = generator.DefaultOptions(first.Answer.Length, first.Answer.Length, 16);
        Assert.Equal(3, samples.Select(s => generator.EncodePrompt(s.Prompt).Length).Distinct().Count());

        var batch = generator.Generate(samples.Select(s => s.Prompt).ToArray(), options, PolicyKitPoliciesPolicyRegistry.Create(policyName));
        for (int i = 0; i < samples.Length; i++)
        {
            var solo = generator.Generate(samples[i].Prompt, options, PolicyKitPoliciesPolicyRegistry.Create(policyName));
            Assert.Equal(samples[i].Answer, solo.Text);
            Assert.Equal(solo.TokenIds, batch[i].TokenIds);
        }
    }

    private static double[] FirstLogits(DiffusionModel model, SamplerOptions options, int[][] prompts)
    {
        using var denoiser = new ModelDenoiser(model, null);
        var recording = new RecordingDenoiser(denoiser);
        using (torch.no_grad())
            new DiffusionSampler(options).Run(recording, prompts, default);
        return recording.Logits[0];
    }
}
