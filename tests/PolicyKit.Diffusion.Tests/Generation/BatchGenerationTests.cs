using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Generated;

namespace PolicyKit.Diffusion.Tests.Generation;

public class BatchGenerationTests
{
    /// <summary>
    /// Exact paths (no cache, always-refresh) must give each prompt exactly its solo tokens. An approximate cache on a
    /// random model only mostly: padding changes the float rounding, and a near-tie can flip one token (dllm-cache
    /// flipped one of 12 on this project's CPU, before and after the executor's restructuring), while a cache that
    /// mixed up rows or attended to pads would leave little in common.
    /// </summary>
    [Theory]
    [InlineData(Layout.LLaDA, "none")]
    [InlineData(Layout.LLaDA, "always-refresh")]
    [InlineData(Layout.Dream, "always-refresh")]
    [InlineData(Layout.LLaDA, "dllm-cache")]
    [InlineData(Layout.Dream, "fast-dllm-dual")]
    public void A_batch_of_prompts_of_different_lengths_gives_each_prompt_its_solo_tokens(Layout layout, string policyName)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        var generator = new TextGenerator(model);
        var options = new SamplerOptions { GenLength = 12, Steps = 12, BlockLength = 4 };
        var vocab = model.Tokenizer.VocabularySize - 8;
        int[][] prompts = [.. new[] { 3, 11, 7 }.Select((n, i) => TestModels.RandomIds(40 + i, n, vocab).Select(x => (int)x).ToArray())];

        var batch = generator.GenerateIds(prompts, options, PolicyKitPoliciesPolicyRegistry.Create(policyName));
        for (int i = 0; i < prompts.Length; i++)
        {
            var solo = generator.GenerateIds([prompts[i]], options, PolicyKitPoliciesPolicyRegistry.Create(policyName))[0];
            if (policyName is "none" or "always-refresh")
            {
                Assert.Equal(solo.TokenIds, batch[i].TokenIds);
            }
            else
            {
                var same = solo.TokenIds.Zip(batch[i].TokenIds).Count(pair => pair.First == pair.Second);
                Assert.True(same >= 9, $"prompt {i}: {same} of 12 tokens as when it runs alone ({string.Join(",", solo.TokenIds)} vs {string.Join(",", batch[i].TokenIds)})");
            }
        }
    }
}
