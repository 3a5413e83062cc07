"""Words the simulator builds names and texts from.

Clean vocabularies must never contain an absolute term (最, 第一, 唯一, 顶级, 国家级, 首选, 极品,
万能, 独家, NO.1 ...) nor an off-platform contact marker (微信, vx, wx, QQ, long digit runs): the
tests check that clean data stays clean, so only injected tactics carry those patterns. Brand,
partner and person names are invented; any likeness to a real company or person is accidental.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Leaf:
    """A leaf category and the words its product titles are made of."""

    slug: str
    name: str
    risk_class: str
    #: Median price in yuan and the log-normal sigma of prices around it.
    price_median_yuan: float
    price_sigma: float
    #: Range of brand-set commission rates, basis points.
    commission_bp: tuple[int, int]
    nouns_zh: tuple[str, ...]
    #: English names of the first ``len(nouns_en)`` Chinese nouns, in the same order.
    nouns_en: tuple[str, ...]
    points_zh: tuple[str, ...]
    points_en: tuple[str, ...]
    specs: tuple[str, ...]


@dataclass(frozen=True)
class Root:
    """A root category: its leaves, how often its brands have Latin names, and its texts."""

    slug: str
    name: str
    risk_class: str
    latin_brand_share: float
    themes: tuple[str, ...]
    descriptions: tuple[str, ...]
    leaves: tuple[Leaf, ...]


def _t(text: str) -> tuple[str, ...]:
    """A tuple from a ``|``-separated string (keeps the tables below short)."""
    return tuple(part.strip() for part in text.split("|") if part.strip())


ROOTS: tuple[Root, ...] = (
    Root(
        "beauty",
        "美妆",
        "medium",
        0.4,
        _t("美妆护肤专场|秋冬护肤|彩妆试色|护肤囤货"),
        _t("温和不刺激，日常通勤都能用|质地轻薄好推开|专柜同款包装|支持七天无理由退货"),
        (
            Leaf(
                "skincare",
                "护肤",
                "medium",
                199,
                0.6,
                (1500, 4000),
                _t("保湿精华液|修护面霜|氨基酸洁面乳|玻尿酸面膜|清透防晒乳|舒缓爽肤水|眼霜"),
                _t("Serum|Face Cream|Cleanser|Sheet Mask|Sunscreen|Toner"),
                _t("补水保湿|舒缓修护|温和清洁|提亮肤色|清爽不油腻|敏感肌可用|水润透亮"),
                _t("Hydrating|Soothing|Gentle|Brightening"),
                _t("30ml|50ml|100ml|5片装|10片装|15g|200ml"),
            ),
            Leaf(
                "makeup",
                "彩妆",
                "medium",
                129,
                0.6,
                (1500, 4000),
                _t("散粉|粉底液|口红|眼影盘|眉笔|腮红|气垫|遮瑕膏|唇釉"),
                _t(
                    "Loose Powder|Foundation|Lipstick|Eyeshadow Palette|"
                    "Eyebrow Pencil|Blush|Cushion|Concealer"
                ),
                _t("控油定妆|持久不脱妆|丝绒雾面|自然裸妆|轻薄服帖|显色度高|不易沾杯"),
                _t("Matte|Long Wear|Natural Finish|Lightweight"),
                _t("8g|3.5g|30ml|12色|15g|2.5g"),
            ),
            Leaf(
                "fragrance",
                "香水",
                "low",
                399,
                0.5,
                (1000, 3000),
                _t("淡香水|香氛礼盒|车载香薰|香体喷雾|扩香石"),
                _t("Eau de Toilette|Fragrance Gift Set|Car Diffuser|Body Mist"),
                _t("清新花果香|木质调|持久留香|送礼体面|淡雅柑橘调"),
                _t("Floral|Woody|Citrus"),
                _t("30ml|50ml|100ml|10ml"),
            ),
            Leaf(
                "haircare",
                "洗护",
                "low",
                69,
                0.5,
                (1500, 3500),
                _t("洗发水|护发素|发膜|护发精油|沐浴露|身体乳"),
                _t("Shampoo|Conditioner|Hair Mask|Hair Oil|Body Wash|Body Lotion"),
                _t("控油蓬松|柔顺修护|去屑止痒|清爽留香|滋润不紧绷"),
                _t("Volumizing|Smoothing|Refreshing"),
                _t("400ml|500ml|750ml|200ml|1L"),
            ),
        ),
    ),
    Root(
        "food",
        "食品",
        "medium",
        0.15,
        _t("零食囤货节|吃货福利夜|产地直发|年货节"),
        _t("产地直发，新鲜看得见|独立小包装，方便携带|配料表干净|保质期内放心食用"),
        (
            Leaf(
                "snacks",
                "零食",
                "low",
                39,
                0.5,
                (1000, 3000),
                _t("坚果礼盒|每日坚果|牛肉干|芒果干|海苔脆|手撕面包|辣条|蛋黄酥"),
                _t("Nut Gift Box|Daily Nuts|Beef Jerky|Dried Mango|Seaweed Snack"),
                _t("香脆可口|独立小包|办公室囤货|现烤现发|酥脆掉渣"),
                _t("Crunchy|Snack Pack"),
                _t("500g|750g|30包|1kg|250g|20袋"),
            ),
            Leaf(
                "fresh",
                "生鲜",
                "medium",
                99,
                0.6,
                (800, 2500),
                _t("阳光玫瑰葡萄|赣南脐橙|大闸蟹|冷冻虾仁|原切牛排|土鸡蛋|车厘子"),
                _t(
                    "Shine Muscat Grapes|Navel Oranges|Hairy Crab|"
                    "Frozen Shrimp|Steak|Free-range Eggs|Cherries"
                ),
                _t("产地直发|冷链配送|现摘现发|肉质饱满|鲜甜多汁"),
                _t("Fresh|Cold Chain"),
                _t("5斤装|2.5kg|1kg|30枚|8只装|500g"),
            ),
            Leaf(
                "tea",
                "茶饮",
                "low",
                159,
                0.7,
                (1000, 3000),
                _t("西湖龙井|普洱茶饼|白茶|铁观音|花果茶|挂耳咖啡|冻干咖啡"),
                _t(
                    "Longjing Green Tea|Pu'er Tea Cake|White Tea|"
                    "Oolong Tea|Fruit Tea|Drip Coffee|Freeze-dried Coffee"
                ),
                _t("明前新茶|醇厚回甘|清香耐泡|冷萃速溶|口粮茶"),
                _t("Cold Brew|Single Origin"),
                _t("250g|357g|100g|20袋|50颗|500g"),
            ),
            Leaf(
                "alcohol",
                "酒水",
                "restricted",
                299,
                0.8,
                (500, 2000),
                _t("酱香型白酒|浓香型白酒|干红葡萄酒|精酿啤酒|梅子酒|威士忌"),
                _t("Baijiu|Strong Aroma Baijiu|Red Wine|Craft Beer|Plum Wine|Whisky"),
                _t("纯粮酿造|口感醇厚|宴请送礼|果香浓郁|低度微醺"),
                _t("Dry Red|Single Malt"),
                _t("500ml|750ml|6瓶装|330ml*24|53度"),
            ),
        ),
    ),
    Root(
        "health",
        "保健",
        "high",
        0.3,
        _t("健康好物|营养补给|家庭常备"),
        _t("蓝帽子保健食品，按说明食用|本品不能代替药物|成年人适用|请在医生指导下使用"),
        (
            Leaf(
                "supplements",
                "保健食品",
                "high",
                199,
                0.6,
                (2000, 5000),
                _t("维生素C片|复合维生素|钙维生素D软胶囊|鱼油软胶囊|益生菌粉|蛋白粉|叶黄素酯片"),
                _t("Vitamin C|Multivitamin|Calcium D3|Fish Oil|Probiotics|Protein Powder|Lutein"),
                _t("营养补充|成人适用|每日一粒|家庭装|温水冲服"),
                _t("Daily|Family Pack"),
                _t("60粒|90粒|120粒|30袋|900g"),
            ),
            Leaf(
                "medical_devices",
                "医疗器械",
                "restricted",
                299,
                0.6,
                (800, 2500),
                _t("电子血压计|血糖仪|额温枪|医用外科口罩|制氧机|雾化器"),
                _t(
                    "Blood Pressure Monitor|Glucose Meter|Forehead Thermometer|"
                    "Surgical Masks|Oxygen Concentrator|Nebulizer"
                ),
                _t("家用款|大屏语音播报|单片包装|二类医疗器械|测量快速"),
                _t("Home Use|Digital"),
                _t("1台|50只装|100只装|1套"),
            ),
            Leaf(
                "weight_management",
                "体重管理",
                "high",
                149,
                0.5,
                (2000, 5000),
                _t("代餐奶昔|魔芋代餐面|膳食纤维粉|轻食沙拉|无糖饮料"),
                _t("Meal Replacement Shake|Konjac Noodles|Fiber Powder|Salad Kit|Sugar-free Drink"),
                _t("饱腹感强|低卡轻食|代餐搭配|0蔗糖|方便冲泡"),
                _t("Low Calorie|Sugar Free"),
                _t("10袋|14袋|500g|12瓶|1kg"),
            ),
            Leaf(
                "otc",
                "非处方药",
                "restricted",
                49,
                0.5,
                (500, 1500),
                _t("感冒灵颗粒|布洛芬缓释胶囊|维生素B族片|创可贴|板蓝根颗粒|蒙脱石散"),
                _t("Cold Granules|Ibuprofen|Vitamin B Complex|Band-Aid"),
                _t("乙类非处方药|家庭常备|按说明书使用|小盒装"),
                _t("OTC"),
                _t("10袋|20粒|24片|100片|9袋"),
            ),
        ),
    ),
    Root(
        "electronics",
        "数码",
        "low",
        0.7,
        _t("数码好价|装机指南|开箱测评|以旧换新"),
        _t("全国联保，官方正品|支持以旧换新|顺丰包邮|激活前支持七天无理由"),
        (
            Leaf(
                "phones",
                "手机",
                "low",
                2999,
                0.5,
                (100, 600),
                _t("5G智能手机|折叠屏手机|游戏手机|老人机"),
                _t("5G Smartphone|Foldable Phone|Gaming Phone|Senior Phone"),
                _t("长续航|高刷屏|影像旗舰|快充大电池|轻薄机身"),
                _t("120Hz|Fast Charging|Long Battery"),
                _t("8GB+256GB|12GB+512GB|6GB+128GB|16GB+1TB"),
            ),
            Leaf(
                "chargers",
                "充电配件",
                "low",
                129,
                0.5,
                (300, 1500),
                _t("氮化镓充电器|充电宝|数据线|无线充电器|磁吸充电宝"),
                _t("GaN Charger|Power Bank|USB-C Cable|Wireless Charger|Magnetic Power Bank"),
                _t("氮化镓快充|多口输出|小巧便携|磁吸对准|编织耐用"),
                _t("Fast Charging|Multi-Port|Compact"),
                _t("65W|100W|33W|20W|10000mAh|20000mAh|1m|2m"),
            ),
            Leaf(
                "audio",
                "耳机音响",
                "low",
                399,
                0.7,
                (300, 1500),
                _t("降噪耳机|真无线蓝牙耳机|头戴式耳机|蓝牙音箱|骨传导耳机"),
                _t(
                    "ANC Earbuds|Wireless Earbuds|"
                    "Headphones|Bluetooth Speaker|Bone Conduction Headphones"
                ),
                _t("主动降噪|通透模式|超长续航|低延迟|防水防汗"),
                _t("Noise Cancelling|Bluetooth 5.3|Low Latency"),
                _t("蓝牙5.3|续航30h|IPX5|40mm单元"),
            ),
            Leaf(
                "computers",
                "电脑",
                "low",
                5999,
                0.5,
                (100, 500),
                _t("轻薄笔记本|游戏本|平板电脑|台式主机|显示器|机械键盘"),
                _t("Notebook|Gaming Notebook|Tablet|Mini PC|Monitor|Mechanical Keyboard"),
                _t("高色域屏|长续航|轻薄便携|高刷电竞屏|静音散热"),
                _t("Ultra Thin|Gaming|4K"),
                _t("16GB+512GB|32GB+1TB|27英寸|14英寸|2.8K"),
            ),
            Leaf(
                "smart_home",
                "智能家居",
                "low",
                199,
                0.6,
                (500, 2000),
                _t("扫地机器人|智能门锁|智能摄像头|智能音箱|空气净化器"),
                _t("Robot Vacuum|Smart Lock|Security Camera|Smart Speaker|Air Purifier"),
                _t("语音控制|手机远程|自动回充|静音运行|一键布防"),
                _t("App Control|Voice Control"),
                _t("2K|3000Pa|4G版|Wi-Fi版"),
            ),
        ),
    ),
    Root(
        "apparel",
        "服饰",
        "low",
        0.35,
        _t("秋冬穿搭|工厂直供|尾货清仓|通勤穿搭"),
        _t("版型宽松显瘦|面料亲肤透气|尺码标准，按平时穿的选|支持试穿"),
        (
            Leaf(
                "womens",
                "女装",
                "low",
                199,
                0.6,
                (1500, 3500),
                _t("羊毛大衣|羽绒服|针织开衫|连衣裙|阔腿裤|衬衫"),
                _t("Wool Coat|Down Jacket|Cardigan|Dress|Wide-leg Pants|Shirt"),
                _t("宽松显瘦|通勤百搭|保暖加厚|垂感面料|法式复古"),
                _t("Oversized|Classic Fit"),
                _t("S-XL|M码|均码|160/84A"),
            ),
            Leaf(
                "mens",
                "男装",
                "low",
                199,
                0.6,
                (1500, 3500),
                _t("冲锋衣|休闲夹克|卫衣|羽绒马甲|直筒牛仔裤|polo衫"),
                _t("Shell Jacket|Casual Jacket|Hoodie|Down Vest|Straight Jeans|Polo Shirt"),
                _t("防风防水|商务休闲|宽松版型|加绒保暖|免烫"),
                _t("Slim Fit|Waterproof"),
                _t("M-3XL|170/88A|L码|XL码"),
            ),
            Leaf(
                "shoes",
                "鞋靴",
                "low",
                299,
                0.5,
                (1200, 3000),
                _t("运动鞋|老爹鞋|切尔西靴|雪地靴|帆布鞋|跑鞋"),
                _t("Sneakers|Chunky Sneakers|Chelsea Boots|Snow Boots|Canvas Shoes|Running Shoes"),
                _t("轻便透气|缓震回弹|防滑耐磨|舒适百搭"),
                _t("Cushioned|Breathable"),
                _t("36-44码|39码|42码"),
            ),
            Leaf(
                "bags",
                "箱包",
                "low",
                399,
                0.7,
                (1200, 3000),
                _t("托特包|双肩包|行李箱|斜挎包|钱包"),
                _t("Tote Bag|Backpack|Suitcase|Crossbody Bag|Wallet"),
                _t("大容量|头层牛皮|轻便耐磨|通勤百搭|静音飞机轮"),
                _t("Large Capacity|Lightweight"),
                _t("20寸|24寸|15L|30L"),
            ),
        ),
    ),
    Root(
        "home",
        "家居",
        "low",
        0.3,
        _t("居家好物|厨房焕新|家清囤货"),
        _t("家用实用|材质安全，放心使用|易清洗好收纳|下单后48小时内发货"),
        (
            Leaf(
                "kitchen",
                "厨具",
                "low",
                129,
                0.6,
                (1000, 3000),
                _t("不粘锅|铸铁锅|刀具套装|保鲜盒|空气炸锅"),
                _t("Non-stick Pan|Cast Iron Pot|Knife Set|Food Containers|Air Fryer"),
                _t("少油烟|不粘易洗|电磁炉通用|食品级材质|大容量"),
                _t("Non-stick|Dishwasher Safe"),
                _t("28cm|32cm|5L|6件套|4L"),
            ),
            Leaf(
                "bedding",
                "床品",
                "low",
                299,
                0.6,
                (1000, 3000),
                _t("四件套|羽绒被|乳胶枕|蚕丝被|记忆棉床垫"),
                _t("Bedding Set|Down Duvet|Latex Pillow|Silk Duvet|Memory Foam Mattress"),
                _t("亲肤透气|保暖蓬松|全棉面料|慢回弹"),
                _t("Cotton|Soft Touch"),
                _t("1.5m床|1.8m床|200x230cm|2斤"),
            ),
            Leaf(
                "cleaning",
                "清洁",
                "low",
                49,
                0.5,
                (1000, 2500),
                _t("洗衣凝珠|洗洁精|厨房湿巾|马桶清洁剂|抽纸"),
                _t("Laundry Pods|Dish Soap|Kitchen Wipes|Toilet Cleaner|Tissue"),
                _t("深层洁净|持久留香|家庭装|温和不伤手"),
                _t("Family Pack"),
                _t("52颗|1.5kg|24包|80抽|3瓶装"),
            ),
            Leaf(
                "appliances",
                "家电",
                "low",
                799,
                0.7,
                (300, 1500),
                _t("电热水壶|洗地机|吹风机|电饭煲|破壁机"),
                _t("Electric Kettle|Wet Dry Vacuum|Hair Dryer|Rice Cooker|Blender"),
                _t("负离子护发|快速沸腾|低噪音|自清洁|大吸力"),
                _t("Quiet|Self-cleaning"),
                _t("1.7L|4L|1800W|2000W"),
            ),
        ),
    ),
    Root(
        "mother_baby",
        "母婴",
        "medium",
        0.3,
        _t("母婴囤货|宝宝好物|宝妈福利"),
        _t("宝宝适用，妈妈放心|符合相关标准|柔软安全|售后无忧"),
        (
            Leaf(
                "formula",
                "奶粉",
                "high",
                299,
                0.4,
                (300, 1500),
                _t("婴儿配方奶粉|较大婴儿配方奶粉|幼儿配方奶粉|羊奶粉"),
                _t("Infant Formula|Follow-on Formula|Toddler Formula|Goat Milk Formula"),
                _t("1段|2段|3段|原装进口|含乳铁蛋白"),
                _t("Stage 2|Stage 3"),
                _t("800g|900g|400g|6罐装"),
            ),
            Leaf(
                "diapers",
                "纸尿裤",
                "medium",
                129,
                0.4,
                (800, 2000),
                _t("纸尿裤|拉拉裤|婴儿湿巾|隔尿垫"),
                _t("Diapers|Pull-ups|Baby Wipes|Changing Pad"),
                _t("超薄透气|干爽不闷|柔软亲肤|防侧漏"),
                _t("Ultra Thin|Breathable"),
                _t("S码|M码|L码|XL码|80片|10包"),
            ),
            Leaf(
                "toys",
                "玩具",
                "medium",
                99,
                0.6,
                (1000, 3000),
                _t("积木|遥控车|毛绒玩具|益智拼图|绘本"),
                _t("Building Blocks|RC Car|Plush Toy|Puzzle|Picture Books"),
                _t("3岁以上|益智启蒙|安全材质|亲子互动"),
                _t("STEM|Age 3+"),
                _t("500颗粒|1000片|30cm|12册"),
            ),
        ),
    ),
    Root(
        "jewelry",
        "珠宝",
        "high",
        0.2,
        _t("珠宝鉴赏|金价直播|源头好货"),
        _t("附鉴定证书|按克计价，工费另计|支持复检|顺丰保价发货"),
        (
            Leaf(
                "gold",
                "黄金",
                "high",
                3999,
                0.8,
                (300, 1500),
                _t("足金手镯|黄金吊坠|古法金戒指|金条|转运珠"),
                _t("Gold Bangle|Gold Pendant|Gold Ring|Gold Bar|Gold Bead"),
                _t("足金999|古法工艺|硬金工艺|送礼收藏"),
                _t("999 Gold"),
                _t("10g|5g|20g|3g"),
            ),
            Leaf(
                "jade",
                "翡翠玉石",
                "high",
                1999,
                1.0,
                (1000, 3000),
                _t("翡翠手镯|和田玉吊坠|翡翠平安扣|玉髓手串"),
                _t("Jadeite Bangle|Hetian Jade Pendant|Jade Donut Pendant|Chalcedony Bracelet"),
                _t("天然A货|冰种|附证书|水头足"),
                _t("Natural Jade"),
                _t("56圈口|58圈口|小号|中号"),
            ),
            Leaf(
                "watches",
                "手表",
                "medium",
                1999,
                0.8,
                (300, 1500),
                _t("机械表|石英表|智能手表|运动手表"),
                _t("Mechanical Watch|Quartz Watch|Smartwatch|Sports Watch"),
                _t("蓝宝石镜面|50米防水|心率监测|长续航"),
                _t("GPS|Heart Rate"),
                _t("40mm|42mm|46mm|38mm"),
            ),
        ),
    ),
    Root(
        "pets",
        "宠物",
        "low",
        0.4,
        _t("宠物好物|猫狗粮囤货|铲屎官福利"),
        _t("猫狗通用|营养均衡|适口性好|新手养宠也能放心"),
        (
            Leaf(
                "pet_food",
                "宠物食品",
                "low",
                149,
                0.6,
                (1000, 3000),
                _t("全价猫粮|全价狗粮|冻干零食|猫罐头|宠物羊奶粉"),
                _t("Cat Food|Dog Food|Freeze-dried Treats|Canned Cat Food|Pet Goat Milk"),
                _t("高蛋白|无谷配方|幼猫适用|全阶段"),
                _t("Grain Free|High Protein"),
                _t("1.5kg|2kg|10kg|24罐|500g"),
            ),
            Leaf(
                "pet_supplies",
                "宠物用品",
                "low",
                79,
                0.6,
                (1000, 3000),
                _t("猫砂|猫爬架|自动喂食器|宠物窝|牵引绳"),
                _t("Cat Litter|Cat Tree|Auto Feeder|Pet Bed|Leash"),
                _t("除臭结团|低尘|定时定量|四季通用"),
                _t("Odor Control|Clumping"),
                _t("6L|10kg|2.4kg|4L"),
            ),
        ),
    ),
    Root(
        "sports",
        "运动",
        "low",
        0.5,
        _t("健身装备|户外出发|运动季"),
        _t("运动爱好者适用|轻量化设计|家用健身好帮手|户外出行好装备"),
        (
            Leaf(
                "fitness",
                "健身",
                "low",
                199,
                0.6,
                (1000, 3000),
                _t("瑜伽垫|哑铃|跳绳|筋膜枪|弹力带|动感单车"),
                _t("Yoga Mat|Dumbbell|Jump Rope|Massage Gun|Resistance Band|Spin Bike"),
                _t("防滑加厚|可调节重量|静音设计|家用健身"),
                _t("Non-slip|Adjustable"),
                _t("6mm|10mm|20kg|5档"),
            ),
            Leaf(
                "outdoor",
                "户外",
                "low",
                299,
                0.6,
                (1000, 3000),
                _t("帐篷|露营椅|登山杖|冲锋裤|户外背包|睡袋"),
                _t(
                    "Camping Tent|Camping Chair|Trekking Pole|"
                    "Shell Pants|Hiking Backpack|Sleeping Bag"
                ),
                _t("防雨防晒|快开速搭|轻量便携|铝合金支架"),
                _t("Waterproof|Ultralight"),
                _t("3-4人|2人|40L|1.5kg"),
            ),
        ),
    ),
)

# Brand names: two or three Chinese characters, or two or three Latin syllables. Syllables never
# end in v or w (no accidental "vx"/"wx") and avoid no/top/di/yi (no accidental "NO.1").
BRAND_CHARS_FIRST = _t(
    "花|雅|兰|悦|素|云|森|柚|青|沐|初|橙|米|禾|知|鹿|星|月|安|若|蓝|白|果|小|玖|拾|南|北|山|川|"
    "木|卡|乐|优|喜|蜜|亦|半|时|光|暖|朵|棠|芊|晴|溪"
)
BRAND_CHARS_SECOND = _t(
    "西|语|颜|记|集|物|研|肌|坊|堂|家|屋|社|谷|园|里|良|元|生|然|色|芽|町|味|仓|铺|宝|格|之|派|"
    "匠|造|纪|氏|舍|作|源|岛"
)
BRAND_CHARS_THIRD = _t("子|儿|集|坊|家|记|研|社")
BRAND_SYLLABLES = _t(
    "an|ber|ca|del|eva|fa|gra|hel|is|ka|lu|mar|nex|or|pa|qi|ro|sa|tek|ul|va|wen|xo|za|lum|"
    "vor|kin|sol|ter|lex|mo|ra|ven|cor|lin|fi|ze|tro|nia|bel|cas|mi|sen|lo"
)

SURNAMES = _t(
    "王|李|张|刘|陈|杨|黄|赵|吴|周|徐|孙|马|朱|胡|郭|何|高|林|罗|郑|梁|谢|宋|唐|许|韩|冯|邓|曹|"
    "彭|曾|肖|田|董|袁|潘|于|蒋|蔡|余|杜|叶|程|苏|魏|吕|丁|任|沈|姚|卢|姜|崔|钟|谭|陆|汪|范|金|"
    "石|廖|贾|夏|韦|付|方|邹|孟|熊|秦|邱|江|尹|薛|闫|段|雷|侯|龙|史|陶|黎|贺|顾|毛|郝|龚|邵"
)
GIVEN_CHARS = _t(
    "伟|芳|娜|敏|静|丽|强|磊|军|洋|勇|艳|杰|娟|涛|明|超|秀|霞|平|刚|桂|英|华|玉|萍|红|玲|芬|燕|"
    "彬|鑫|宇|浩|凯|婷|雪|琳|晨|欣|怡|悦|思|雨|萱|涵|子|梓|轩|博|文|然|诗|梦|可|晴|心|妍|嘉|俊|"
    "泽|昊|瑶|琪|璐|鹏|飞|斌|辉"
)
NICKNAMES = _t(
    "小雪|阿杰|糖糖|大表姐|七七|Coco|Mia|老陈|米粒|阿楠|花花|Lily|小鹿|豆豆|阿May|Kiki|猫姐|小北|"
    "小胖|橙子|Vivian|阿珍|二哥|叶子|团团|Jessie|大雄|欢欢|小满|阿brian|桃子|Lisa|老周|甜甜|阿泽|"
    "饭团|Yuki|木木|大鹏|小鱼"
)
NICKNAME_SUFFIXES = _t(
    "的好物分享|严选|说数码|美妆日记|在杭州|爱生活|的宝藏店|工厂店|好物推荐|的衣橱|吃货日记|"
    "家居馆|宠物屋|直播间|优选|穿搭|讲茶|珠宝|在义乌|的小店"
)

PARTNER_CITIES = _t(
    "杭州|上海|广州|深圳|北京|成都|义乌|武汉|长沙|南京|厦门|青岛|临沂|苏州|郑州|西安|重庆|泉州"
)
PARTNER_WORDS = _t(
    "星耀|繁星|蓝海|聚星|众合|乐享|云上|新势|启航|光合|鲸鱼|向日葵|橙果|青禾|锦程|海豚|星河|"
    "晨曦|千帆|山海|北斗|鹿鸣|知行|拾光"
)
PARTNER_SUFFIXES: dict[str, tuple[str, ...]] = {
    "agency": _t("文化传媒有限公司|网络科技有限公司|文化传播有限公司"),
    "live_base": _t("直播电商产业园|直播基地|供应链直播基地"),
    "service_provider": _t("电子商务有限公司|数字营销服务有限公司|代运营服务有限公司"),
}

# Session titles: "<theme>｜<occasion>".
SESSION_OCCASIONS = _t("福利夜|新品上新|宠粉专场|工厂直供|源头好货|周末特惠|限时秒杀|好物返场")

# Comments. Short ones repeat naturally across viewers; long ones are composed from three parts
# (tens of thousands of combinations), so identical long comments by many accounts stay rare.
SHORT_COMMENTS = _t(
    "好看|主播好美|已拍|已下单|多少钱|怎么买|链接在哪|还有货吗|能便宜点吗|包邮吗|什么时候发货|支持|"
    "来了来了|哈哈哈|讲解一下|尺码怎么选|适合油皮吗|有赠品吗|可以用券吗|好的好的|蹲一个|想要|冲|"
    "终于等到了|上链接|关注了|主播辛苦了|刚来|这个颜色好看|求返场|质量怎么样|敏感肌能用吗|"
    "孩子能吃吗|保质期多久|能开发票吗|有小样吗|回放在哪看|❤️|👍|🔥|😂|666|love it|how much?"
)
LONG_COMMENT_OPENERS = _t(
    "姐妹们|说实话|上次买的|刚收到货|我妈让我问|看了好几场了|今天这个价|昨天在别家看了|"
    "朋友推荐来的|又来了|老粉报到|下班赶过来|刚下单|想问一下主播|蹲了一晚上|家里人说|"
    "同事都在问|去年买过|犹豫好久了|等了好几天|看回放过来的|早上就在等|听主播讲完|"
    "给老公买的|给爸妈买的|宝宝用的|自己用的|学生党|打工人|宝妈一枚"
)
LONG_COMMENT_BODIES = _t(
    "质地很清爽|包装挺用心的|物流特别快|颜色比图片还好看|尺码很标准|味道不错|性价比挺高|"
    "客服态度很好|用了一周感觉还行|比超市便宜一些|做工挺细致|分量很足|穿着很舒服|声音很清楚|"
    "续航挺久的|安装很简单|猫咪很爱吃|孩子很喜欢|香味很淡雅|这次活动力度可以|赠品也很实用|"
    "和描述的一样|发货速度很快|价格还可以|讲解很详细|试用装很惊喜|比想象中轻|手感很好|"
    "这个色号显白|保温效果不错|适合送人|大小刚刚好|充电很快|吃着放心|清洗方便"
)
LONG_COMMENT_ENDINGS = _t(
    "，支持一下|，再来一单|，推荐给大家|，希望多上点库存|！|~|，主播讲得很清楚|，还会再来的|"
    "，已经推荐给朋友|，期待返场|，下次还买|。|，给个好评|，冲冲冲|，蹲下一场|，谢谢主播|"
    "，有点心动|，比上次便宜|，想再囤点|，爱了爱了"
)

# Hired commenters post one of these, with tiny variations (punctuation, emoji).
HIRED_COMMENTS = _t(
    "这款真的太好用了，回购三次了，姐妹们冲！|主播人美心善，东西也好，闭眼入就对了|"
    "刚收到货质量超级好，比专柜便宜太多了|家人们赶紧下单，手慢无！|"
    "用了一个月效果明显，真心推荐给大家|已经买了五单了，送人自用都合适|"
    "这个价格真的太划算了，错过等一年|主播推荐的从来没踩过雷，无脑冲|"
    "身边朋友都在用，口碑真的好|今天不买真的亏大了，库存不多了"
)
HIRED_SUFFIXES = ("", "！", "!!", "～", "👍", "❤️", "。", "！！！", " ", "😍")


@dataclass(frozen=True)
class Gift:
    gift_id: int
    name: str
    price_fen: int
    #: Relative frequency among ordinary tips.
    weight: float


GIFTS: tuple[Gift, ...] = (
    Gift(1, "小心心", 10, 40.0),
    Gift(2, "人气票", 100, 20.0),
    Gift(3, "棒棒糖", 100, 15.0),
    Gift(4, "玫瑰", 100, 10.0),
    Gift(5, "啤酒", 200, 6.0),
    Gift(6, "爱心", 990, 4.0),
    Gift(7, "鲜花束", 1990, 2.5),
    Gift(8, "跑车", 12000, 0.8),
    Gift(9, "火箭", 50000, 0.2),
    Gift(10, "嘉年华", 300000, 0.03),
)

REFUND_REASONS_BEFORE_SHIPMENT = ("cancelled_before_shipment",)
REFUND_REASONS_FULL = (
    "no_reason_return",
    "quality_issue",
    "not_as_described",
    "damaged_in_transit",
)
REFUND_REASONS_PARTIAL = ("price_protection", "missing_item", "quality_issue")

# Blacklist: reason -> legal basis (what the listed person is told).
BLACKLIST_REASONS: dict[str, str] = {
    "fabricated_transactions": "电子商务法第十七条；网络直播营销管理办法（试行）",
    "false_advertising": "广告法第九条；网络直播营销管理办法（试行）",
    "counterfeit_goods": "产品质量法；商标法",
    "fraud": "刑法；网络直播营销管理办法（试行）",
    "minor_protection_violation": "未成年人保护法；网络直播营销管理办法（试行）",
    "repeated_serious_violations": "平台服务协议；网络直播营销管理办法（试行）",
}

# Resident ID region codes (6 digits) valid for every birth year since 1950 in the national
# administrative division list, so generated ID numbers validate for any age.
REGION_CODES = _t(
    "110101|110102|110105|110106|110107|110108|110109|120101|120102|120103|120104|120105|"
    "120106|140121|150121|210224|210321|222401|230722|310101|310104|310105|310106|310107|"
    "310109|310110|330122|330127|340121|350121|360121|422822|430121|430321|510121|510321|"
    "520203|530124|610323|620121|640121|650121"
)

PHONE_PREFIXES = _t(
    "130|131|132|133|134|135|136|137|138|139|150|151|152|153|155|156|157|158|159|166|173|175|"
    "176|177|178|180|181|182|183|184|185|186|187|188|189|191|193|195|198|199"
)
