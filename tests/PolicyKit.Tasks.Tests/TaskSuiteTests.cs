using System.Text.RegularExpressions;

namespace PolicyKit.Tasks.Tests;

public class TaskSuiteTests
{
    public static TheoryData<string> Tasks => new(TaskSuite.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Tasks))]
    public void The_same_seed_gives_the_same_samples_and_another_seed_others(string name)
    {
        var task = TaskSuite.Get(name);
        Assert.Equal(TaskSuite.TestSet(task, 20, seed: 3), TaskSuite.TestSet(task, 20, seed: 3));
        Assert.NotEqual(TaskSuite.TestSet(task, 20, seed: 3), TaskSuite.TestSet(task, 20, seed: 4));
        Assert.Equal(TaskSuite.TrainBatch(task, 1, step: 7, count: 5), TaskSuite.TrainBatch(task, 1, step: 7, count: 5));
    }

    [Theory]
    [MemberData(nameof(Tasks))]
    public void Training_batches_never_contain_a_test_prompt(string name)
    {
        var task = TaskSuite.Get(name);
        var test = TaskSuite.TestSet(task, 1000, seed: 0).Select(s => s.Prompt).ToHashSet();
        for (int step = 0; step < 50; step++)
            Assert.All(TaskSuite.TrainBatch(task, 0, step, 8), s => Assert.DoesNotContain(s.Prompt, test));
    }

    [Theory]
    [MemberData(nameof(Tasks))]
    public void Samples_are_in_the_regime_the_task_stands_for(string name)
    {
        var task = TaskSuite.Get(name);
        foreach (var s in TaskSuite.TestSet(task, 50))
        {
            Assert.Matches("^[A-Z0-9=;?+,:-]+$", s.Prompt + s.Answer);  // one token per character, no merges
            Assert.True(s.Answer.Length <= task.GenLength);
            switch (name)
            {
                case "retrieval": Assert.True(s.Prompt.Length >= 256); break;
                case "arithmetic": Assert.True(s.Answer.Length >= 48); break;
                case "transform": Assert.True(s.Answer.Length >= 32); break;
            }
        }
    }

    [Fact]
    public void Retrieval_answers_are_the_value_of_the_asked_key()
    {
        foreach (var s in TaskSuite.TestSet(TaskSuite.Get("retrieval"), 50))
        {
            var asked = Regex.Match(s.Prompt, @"\?([A-Z]{3})=$").Groups[1].Value;
            var value = Regex.Match(s.Prompt, $"(?:^|;){asked}=([0-9]{{3}});").Groups[1].Value;
            Assert.Equal(value, s.Answer);
        }
    }

    [Fact]
    public void Arithmetic_answers_list_every_running_value()
    {
        foreach (var s in TaskSuite.TestSet(TaskSuite.Get("arithmetic"), 50))
        {
            int value = int.Parse(s.Prompt[..2]);
            var expected = string.Concat(Regex.Matches(s.Prompt[2..^1], @"([+-])(\d)").Select(m =>
            {
                value += (m.Groups[1].Value == "+" ? 1 : -1) * int.Parse(m.Groups[2].Value);
                Assert.InRange(value, 0, 99);
                return value.ToString("D2") + ",";
            }));
            Assert.Equal(expected, s.Answer);
        }
    }

    [Fact]
    public void Transform_answers_are_the_reversed_letters()
    {
        foreach (var s in TaskSuite.TestSet(TaskSuite.Get("transform"), 50))
            Assert.Equal(new string(s.Prompt[4..^1].Reverse().ToArray()), s.Answer);
    }

    [Fact]
    public void Exact_match_ignores_surrounding_whitespace_only()
    {
        var s = new TaskSample("t", "p", "417");
        Assert.True(s.IsCorrect("417"));
        Assert.True(s.IsCorrect(" 417\n"));
        Assert.False(s.IsCorrect("4170"));
        Assert.False(s.IsCorrect("41"));
    }

    [Fact]
    public void Unknown_tasks_are_named_in_the_error()
    {
        var e = Assert.Throws<ArgumentException>(() => TaskSuite.Get("poetry"));
        Assert.Contains("poetry", e.Message);
        Assert.Contains("retrieval", e.Message);
    }
}
