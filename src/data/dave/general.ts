/**
 * The general (utility) text: plain, simple English generated from small, consistent knowledge
 * tables (animals, seasons, cooking, jobs, towns, calendar, counting, short fables). It is about no
 * specific person; its vocabulary overlaps the fact templates so one small tokenizer covers both.
 * Perplexity on it measures whether unlearning damaged ordinary language modelling.
 */
import type { Rng } from '../../util/rng.ts';

interface Animal {
  name: string;
  young: string;
  sound: string;
  home: string;
  food: string;
}

const ANIMALS: Animal[] = [
  { name: 'cow', young: 'calf', sound: 'moo', home: 'in a green field', food: 'grass' },
  { name: 'sheep', young: 'lamb', sound: 'baa', home: 'on the hills', food: 'grass' },
  { name: 'duck', young: 'duckling', sound: 'quack', home: 'on the pond', food: 'seeds and weeds' },
  { name: 'dog', young: 'puppy', sound: 'woof', home: 'in the house', food: 'meat and biscuits' },
  { name: 'cat', young: 'kitten', sound: 'meow', home: 'by the warm fire', food: 'fish' },
  { name: 'horse', young: 'foal', sound: 'neigh', home: 'in a stable', food: 'hay and oats' },
  { name: 'pig', young: 'piglet', sound: 'oink', home: 'in a muddy pen', food: 'scraps and apples' },
  { name: 'hen', young: 'chick', sound: 'cluck', home: 'in a wooden coop', food: 'grain' },
  { name: 'frog', young: 'tadpole', sound: 'croak', home: 'near the pond', food: 'flies' },
  { name: 'owl', young: 'owlet', sound: 'hoot', home: 'in a hollow tree', food: 'mice' },
  { name: 'goat', young: 'kid', sound: 'bleat', home: 'on the rocky hill', food: 'leaves and grass' },
  { name: 'bear', young: 'cub', sound: 'growl', home: 'in a dark cave', food: 'berries and honey' },
];

interface Season {
  name: string;
  weather: string;
  sights: string[];
  activities: string[];
  months: string[];
}

const SEASONS: Season[] = [
  {
    name: 'spring',
    weather: 'mild and rainy',
    sights: ['flowers begin to bloom', 'lambs are born on the farms', 'birds build their nests', 'the trees grow new leaves'],
    activities: ['plant seeds in the garden', 'go for long walks', 'clean their houses'],
    months: ['March', 'April', 'May'],
  },
  {
    name: 'summer',
    weather: 'warm and sunny',
    sights: ['the days are long', 'the grass turns dry and yellow', 'bees buzz around the flowers', 'fruit grows on the trees'],
    activities: ['swim in the sea', 'eat ice cream in the park', 'have picnics by the river'],
    months: ['June', 'July', 'August'],
  },
  {
    name: 'autumn',
    weather: 'cool and windy',
    sights: ['leaves turn red and fall', 'apples are picked from the trees', 'the nights grow longer', 'birds fly south'],
    activities: ['collect conkers', 'make hot soup', 'rake leaves into piles'],
    months: ['September', 'October', 'November'],
  },
  {
    name: 'winter',
    weather: 'cold and frosty',
    sights: ['snow covers the fields', 'ponds freeze over', 'the days are short', 'trees stand bare'],
    activities: ['wear warm coats and hats', 'sit by the fire', 'build snowmen'],
    months: ['December', 'January', 'February'],
  },
];

interface Recipe {
  dish: string;
  ingredients: string[];
  method: string;
}

const RECIPES: Recipe[] = [
  { dish: 'pancakes', ingredients: ['flour', 'eggs', 'milk'], method: 'Mix them in a bowl and cook the batter in a hot pan.' },
  { dish: 'tomato soup', ingredients: ['tomatoes', 'onions', 'water'], method: 'Cook them in a pot and then blend the soup until it is smooth.' },
  { dish: 'bread', ingredients: ['flour', 'water', 'yeast', 'salt'], method: 'Knead the dough, let it rise, and bake it in a hot oven.' },
  { dish: 'fruit salad', ingredients: ['apples', 'grapes', 'oranges', 'bananas'], method: 'Cut the fruit into small pieces and mix them in a bowl.' },
  { dish: 'porridge', ingredients: ['oats', 'milk', 'a little honey'], method: 'Heat the oats and milk in a pan and stir until it is thick.' },
  { dish: 'lemon cake', ingredients: ['flour', 'sugar', 'butter', 'eggs', 'lemons'], method: 'Beat everything together and bake it for half an hour.' },
  { dish: 'vegetable stew', ingredients: ['carrots', 'potatoes', 'onions', 'peas'], method: 'Cut the vegetables and let them cook slowly in a big pot.' },
  { dish: 'cheese toast', ingredients: ['bread', 'cheese', 'butter'], method: 'Put cheese on the bread and toast it until the cheese melts.' },
  { dish: 'rice pudding', ingredients: ['rice', 'milk', 'sugar'], method: 'Cook the rice slowly in sweet milk until it is soft.' },
  { dish: 'apple pie', ingredients: ['apples', 'flour', 'butter', 'sugar'], method: 'Fill a pastry case with sliced apples and bake it until golden.' },
];

interface Work {
  job: string;
  place: string;
  tool: string;
  task: string;
}

const WORK: Work[] = [
  { job: 'baker', place: 'bakery', tool: 'an oven', task: 'bake bread and cakes' },
  { job: 'farmer', place: 'farm', tool: 'a tractor', task: 'grow crops and care for animals' },
  { job: 'teacher', place: 'school', tool: 'books and a board', task: 'help children learn' },
  { job: 'nurse', place: 'hospital', tool: 'bandages', task: 'look after sick people' },
  { job: 'carpenter', place: 'workshop', tool: 'a saw and a hammer', task: 'make things from wood' },
  { job: 'chef', place: 'kitchen', tool: 'sharp knives', task: 'cook meals for hungry people' },
  { job: 'librarian', place: 'library', tool: 'a list of books', task: 'help people find books' },
  { job: 'fisher', place: 'boat', tool: 'a net', task: 'catch fish at sea' },
  { job: 'gardener', place: 'garden', tool: 'a spade', task: 'plant flowers and cut the grass' },
  { job: 'pilot', place: 'plane', tool: 'a map of the sky', task: 'fly people from place to place' },
  { job: 'mechanic', place: 'garage', tool: 'a spanner', task: 'fix cars and vans' },
  { job: 'postal worker', place: 'post office', tool: 'a big bag', task: 'bring letters to every house' },
];

const PLACES: Array<[string, string]> = [
  ['library', 'borrow books'],
  ['station', 'catch a train'],
  ['market', 'buy fresh fruit and vegetables'],
  ['park', 'play and walk their dogs'],
  ['bakery', 'buy warm bread'],
  ['post office', 'send letters and parcels'],
  ['swimming pool', 'swim and stay fit'],
  ['museum', 'look at old things and learn about the past'],
  ['harbour', 'watch the boats come in'],
  ['school', 'learn to read and write'],
  ['hospital', 'see a doctor when they are ill'],
  ['cafe', 'drink tea and talk with friends'],
];

const THINGS_COLOURS: Array<[string, string]> = [
  ['The sky', 'blue'], ['Grass', 'green'], ['Snow', 'white'], ['Coal', 'black'], ['A ripe lemon', 'yellow'],
  ['A ripe tomato', 'red'], ['A carrot', 'orange'], ['The sea on a calm day', 'blue'], ['A cloud on a rainy day', 'grey'],
  ['Milk', 'white'], ['A fresh leaf', 'green'], ['A ripe plum', 'purple'],
];

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];

const GOALS: Array<[string, string]> = [
  ['climb the tall tree', 'sat at the very top and looked at the whole valley'],
  ['cross the wide river', 'stood safe on the other side'],
  ['find the way home', 'was back home before dark'],
  ['reach the ripe apples', 'ate a sweet red apple'],
  ['build a warm nest', 'slept in a soft, warm nest'],
  ['see the sea', 'watched the waves roll onto the sand'],
  ['learn to swim', 'swam across the pond and back'],
  ['fly a red kite', 'watched the kite dance high in the wind'],
];

const HELPERS = ['wise old owl', 'kind horse', 'clever fox', 'friendly duck', 'big brown bear', 'busy hen'];

const ROUTINES = [
  'In the morning, people wake up, wash their faces and eat breakfast.',
  'Children walk to school with their bags on their backs.',
  'At noon, many people stop work and eat lunch.',
  'In the afternoon, the shops are busy and the streets are full.',
  'In the evening, families cook dinner and talk about their day.',
  'At night, the streets are quiet and most people are asleep.',
  'On Saturday, many people go to the market or visit friends.',
  'On Sunday, some people rest at home and read the paper.',
  'When it rains, people carry umbrellas and wear boots.',
  'When the sun shines, the park is full of people.',
];

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function list(items: string[]): string {
  if (items.length === 1) return items[0]!;
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

type Gen = (rng: Rng) => string;

const GENERATORS: Gen[] = [
  // animals
  (rng) => {
    const a = rng.pick(ANIMALS);
    const parts = [
      `The ${a.name} lives ${a.home}.`,
      `It eats ${a.food}.`,
      `A young ${a.name} is called a ${a.young}.`,
      `The ${a.name} says ${a.sound}.`,
    ];
    rng.shuffle(parts);
    return parts.slice(0, 2 + rng.int(2)).join(' ');
  },
  // seasons
  (rng) => {
    const s = rng.pick(SEASONS);
    const sight = rng.pick(s.sights);
    const act = rng.pick(s.activities);
    const forms = [
      `In ${s.name} the weather is ${s.weather}, and ${sight}. Many people like to ${act}.`,
      `${cap(s.name)} comes in ${list(s.months)}. In ${s.name}, ${sight}.`,
      `When it is ${s.name}, ${sight}. It is a good time to ${act}.`,
    ];
    return rng.pick(forms);
  },
  // cooking
  (rng) => {
    const r = rng.pick(RECIPES);
    return rng.next() < 0.5
      ? `To make ${r.dish}, you need ${list(r.ingredients)}. ${r.method}`
      : `${cap(r.dish)} is made with ${list(r.ingredients)}. ${r.method}`;
  },
  // work
  (rng) => {
    const w = rng.pick(WORK);
    const forms = [
      `A ${w.job} works in a ${w.place}. The work of a ${w.job} is to ${w.task}.`,
      `A ${w.job} uses ${w.tool} to ${w.task}.`,
      `Every day the ${w.job} goes to the ${w.place} to ${w.task}.`,
    ];
    return rng.pick(forms);
  },
  // town
  (rng) => {
    const [a, b] = rng.shuffle([...PLACES]).slice(0, 2) as [[string, string], [string, string]];
    return rng.next() < 0.5
      ? `People go to the ${a[0]} to ${a[1]}.`
      : `The town has a ${a[0]} and a ${b[0]}. People go to the ${a[0]} to ${a[1]}, and to the ${b[0]} to ${b[1]}.`;
  },
  // calendar
  (rng) => {
    const i = rng.int(7);
    const forms = [
      `${DAYS[i]} comes after ${DAYS[(i + 6) % 7]} and before ${DAYS[(i + 1) % 7]}.`,
      `There are seven days in a week. The first day of the working week is Monday.`,
      `The day after ${DAYS[i]} is ${DAYS[(i + 1) % 7]}.`,
    ];
    return rng.pick(forms);
  },
  // colours
  (rng) => {
    const [thing, colour] = rng.pick(THINGS_COLOURS);
    return `${thing} is ${colour}.`;
  },
  // counting
  (rng) => {
    const a = 1 + rng.int(6);
    const b = 1 + rng.int(6);
    return rng.next() < 0.5
      ? `${cap(NUMBER_WORDS[a]!)} and ${NUMBER_WORDS[b]} make ${NUMBER_WORDS[a + b]}.`
      : `If you have ${NUMBER_WORDS[a + b]} apples and give away ${NUMBER_WORDS[b]}, you have ${NUMBER_WORDS[a]} left.`;
  },
  // daily life
  (rng) => {
    const k = 2 + rng.int(2);
    const start = rng.int(ROUTINES.length);
    const out: string[] = [];
    for (let j = 0; j < k; j++) out.push(ROUTINES[(start + j) % ROUTINES.length]!);
    return out.join(' ');
  },
  // fables
  (rng) => {
    const a = rng.pick(ANIMALS);
    const [goal, end] = rng.pick(GOALS);
    const helper = rng.pick(HELPERS);
    return `Once there was a little ${a.name} who wanted to ${goal}. It asked a ${helper} for help. The ${helper} showed the way, and soon the little ${a.name} ${end}.`;
  },
];

/** `n` distinct short texts, deterministic given the Rng state. */
export function generateGeneralTexts(rng: Rng, n: number): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  let tries = 0;
  while (out.length < n) {
    if (++tries > n * 200) throw new RangeError(`general text: cannot make ${n} distinct texts (made ${out.length})`);
    const text = rng.pick(GENERATORS)(rng);
    if (seen.has(text)) continue;
    seen.add(text);
    out.push(text);
  }
  return out;
}
