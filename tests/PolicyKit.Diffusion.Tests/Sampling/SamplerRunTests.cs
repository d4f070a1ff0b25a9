using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Diffusion.Tests.Sampling;

/// <summary>The stepwise run a batching scheduler drives: the same steps as <see cref="DiffusionSampler.Run"/>, per-row seeds.</summary>
public class SamplerRunTests
{
    private static readonly int[][] Prompts = [[1, 2, 3, 4], [5, 6, 7, 8], [2, 9]];

    [Theory]
    [InlineData(TransferSchedule.Linear)]
    [InlineData(TransferSchedule.Threshold)]
    public void Stepping_a_run_by_hand_gives_the_steps_and_answers_of_Run(TransferSchedule schedule)
    {
        var options = SamplerOptions.Llada with { GenLength = 8, Steps = 4, BlockLength = 4, Schedule = schedule, Threshold = 0.2 };
        var sampler = new DiffusionSampler(options);
        var reports = new List<SamplerStepReport>();
        var whole = sampler.Run(new FakeDenoiser(), Prompts, onStep: reports.Add);

        using var run = sampler.Start(new FakeDenoiser(), Prompts);
        var stepped = new List<SamplerStepReport>();
        while (!run.IsDone) stepped.Add(run.Step(report: true)!);

        Assert.Equal(whole.Steps, run.Steps);
        Assert.Equal(reports.Select(r => r.Step), stepped.Select(r => r.Step));
        for (int r = 0; r < Prompts.Length; r++)
        {
            Assert.Equal(whole.ResponseIds[r], run.Result().ResponseIds[r]);
            Assert.Equal(whole.ResponseIds[r], run.ResponseOf(r));
        }
        Assert.Throws<InvalidOperationException>(() => run.Step());
    }

    [Fact]
    public void A_row_given_its_solo_seed_draws_its_solo_answer_in_a_batch()
    {
        // Gumbel noise and random confidences: every commit depends on the row's random stream.
        var options = SamplerOptions.Llada with { GenLength = 8, Steps = 8, BlockLength = 4, Temperature = 1, Confidence = ConfidenceKind.Random };
        int[][] prompts = [[1, 2, 3, 4], [5, 6, 7, 8]];
        long[] seeds = [7, 123];
        using var batch = new DiffusionSampler(options).Start(new FakeDenoiser(), prompts, seeds);
        while (!batch.IsDone) batch.Step();

        for (int r = 0; r < prompts.Length; r++)
        {
            var solo = new DiffusionSampler(options with { Seed = seeds[r] }).Run(new FakeDenoiser(), [prompts[r]]);
            Assert.Equal(solo.ResponseIds[0], batch.ResponseOf(r));
        }
        // The default streams (Seed + row) differ from these, so the seeds were used.
        var defaults = new DiffusionSampler(options).Run(new FakeDenoiser(), prompts);
        Assert.NotEqual(defaults.ResponseIds[1], batch.ResponseOf(1));
    }

    [Fact]
    public void Seeds_must_match_the_rows()
    {
        var sampler = new DiffusionSampler(SamplerOptions.Llada with { GenLength = 4, Steps = 4, BlockLength = 4 });
        var e = Assert.Throws<ArgumentException>(() => sampler.Start(new FakeDenoiser(), Prompts, [1, 2]));
        Assert.Contains("2 seeds for 3 prompts", e.Message);
    }
}
